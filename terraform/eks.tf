# EKS with a small managed node group for the system pods, and Karpenter
# (controller role through EKS Pod Identity) for the scraper nodes.

module "eks" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact release; the registry protocol has no commit-hash form (a git source would lose the registry's version checks).
  source  = "terraform-aws-modules/eks/aws"
  version = "21.25.1"

  name               = var.name
  kubernetes_version = var.kubernetes_version

  # trawl and kubectl run on the operator's machine.
  endpoint_public_access       = true
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  endpoint_private_access      = true

  # Terraform's caller creates the namespace, RBAC and Helm release below.
  enable_cluster_creator_admin_permissions = true

  cloudwatch_log_group_retention_in_days = var.log_retention_days

  addons = {
    coredns    = {}
    kube-proxy = {}
    # Pod Identity (Karpenter's controller, the scrapers) and the CNI must
    # run before any node can be useful.
    eks-pod-identity-agent = { before_compute = true }
    vpc-cni                = { before_compute = true }
  }

  vpc_id     = module.vpc.vpc_id
  subnet_ids = module.vpc.private_subnets

  eks_managed_node_groups = {
    system = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.system_node_instance_types
      # Two nodes: Karpenter's two replicas spread over them.
      min_size     = 2
      max_size     = 3
      desired_size = 2
      labels       = { "trawl.io/role" = "system" }
      # IMDSv2 only, unreachable from pods (hop limit 1).
      metadata_options = {
        http_endpoint               = "enabled"
        http_tokens                 = "required"
        http_put_response_hop_limit = 1
      }
    }
  }

  # Karpenter's securityGroupSelectorTerms (provisioner.yaml): only the
  # node security group carries the tag.
  node_security_group_tags = {
    "karpenter.sh/discovery" = var.name
  }
}

module "karpenter" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact release; the registry protocol has no commit-hash form (a git source would lose the registry's version checks).
  source  = "terraform-aws-modules/eks/aws//modules/karpenter"
  version = "21.25.1"

  cluster_name = module.eks.cluster_name

  # The controller's role through EKS Pod Identity (kube-system/karpenter).
  create_pod_identity_association = true

  # A fixed name: provisioner.yaml's EC2NodeClass names this role.
  node_iam_role_use_name_prefix = false
  node_iam_role_name            = "${var.name}-karpenter-node"
  node_iam_role_additional_policies = {
    # The EIP claim at boot (iam.tf).
    eip_claim = aws_iam_policy.eip_claim.arn
  }
}

resource "helm_release" "karpenter" {
  namespace  = "kube-system"
  name       = "karpenter"
  repository = "oci://public.ecr.aws/karpenter"
  chart      = "karpenter"
  version    = "1.15.0"
  wait       = true

  values = [
    yamlencode({
      settings = {
        clusterName       = module.eks.cluster_name
        clusterEndpoint   = module.eks.cluster_endpoint
        interruptionQueue = module.karpenter.queue_name
      }
      # Karpenter must not run on nodes it manages.
      nodeSelector = { "trawl.io/role" = "system" }
    })
  ]

  depends_on = [module.karpenter]
}
