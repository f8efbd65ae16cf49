#!/usr/bin/env bash
# Builds the scraper image (amd64, static, FROM scratch: scraper/build-image.sh)
# and pushes it to the ECR repository that terraform/ created.
#   scripts/push-image.sh [TAG]     (default: the commit, e.g. 3f9c2a1b7d0e)
# Tags are immutable in the repository: every push gets a new tag. Then
#   terraform -chdir=terraform apply -var scraper_image_tag=TAG
# points the task definition and the `scraper_image` output at it, and
# `trawl init --terraform-output` picks it up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

tag=${1:-$(git rev-parse --short=12 HEAD)}
repository=$(terraform -chdir=terraform output -raw ecr_repository)
region=$(terraform -chdir=terraform output -raw region)
registry=${repository%%/*}
local_image="localhost/trawl-scraper:$tag"

scraper/build-image.sh "$local_image"

# The registry password goes through a pipe, never the command line.
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  aws ecr get-login-password --region "$region" |
    docker login --username AWS --password-stdin "$registry"
  docker tag "$local_image" "$repository:$tag"
  docker push "$repository:$tag"
else
  aws ecr get-login-password --region "$region" |
    buildah login --username AWS --password-stdin "$registry"
  buildah --storage-driver vfs push "$local_image" "docker://$repository:$tag"
fi

echo "pushed $repository:$tag"
echo "next: terraform -chdir=terraform apply -var scraper_image_tag=$tag"
