#!/usr/bin/env bash
# Tears trawl's infrastructure down: what `terraform destroy` cannot remove
# by itself first, then the rest.
#   scripts/teardown.sh            asks before destroying
#   scripts/teardown.sh --yes      does not ask (CI, scripts)
# Order:
# 1. Karpenter's nodes: delete provisioner.yaml's NodePool and EC2NodeClass
#    and wait, so Karpenter terminates its instances (Terraform never knew
#    them; their ENIs would block the subnets' deletion).
# 2. Empty the content bucket (S3 refuses to delete a bucket with objects).
# 3. Delete the scraper images (ECR refuses to delete a repository with
#    images).
# 4. terraform destroy.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

yes=false
[[ ${1:-} == --yes ]] && yes=true

bucket=$(terraform -chdir=terraform output -raw bucket)
repository=$(terraform -chdir=terraform output -raw ecr_repository)
region=$(terraform -chdir=terraform output -raw region)
repo_name=${repository#*/}
export AWS_REGION="$region" AWS_DEFAULT_REGION="$region"

if ! $yes; then
  printf 'This deletes every body in s3://%s, every image in %s and all of\ntrawl'"'"'s infrastructure in %s. Type "destroy" to go on: ' "$bucket" "$repository" "$region"
  read -r answer
  [[ $answer == destroy ]] || { echo "nothing done"; exit 1; }
fi

echo "== Karpenter nodes"
if kubectl get nodepools.karpenter.sh >/dev/null 2>&1; then
  kubectl delete --ignore-not-found --wait=true --timeout=10m -f provisioner.yaml
else
  echo "no cluster access or no Karpenter: skipped (check EC2 for instances tagged karpenter.sh/nodepool)"
fi

echo "== empty s3://$bucket"
aws s3 rm "s3://$bucket" --recursive --only-show-errors

echo "== delete the images of $repo_name"
while :; do
  ids=$(aws ecr list-images --repository-name "$repo_name" --query 'imageIds[*].imageDigest' --output text)
  [[ -z $ids || $ids == None ]] && break
  # At most 100 per call (BatchDeleteImage's limit).
  read -r -a digests <<<"$ids"
  args=()
  for d in "${digests[@]:0:100}"; do args+=("imageDigest=$d"); done
  aws ecr batch-delete-image --repository-name "$repo_name" --image-ids "${args[@]}" >/dev/null
done

echo "== terraform destroy"
if $yes; then
  terraform -chdir=terraform destroy -auto-approve
else
  terraform -chdir=terraform destroy
fi
