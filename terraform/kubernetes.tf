# The Kubernetes objects trawl needs (DESIGN.md "Kubernetes contract"):
# the namespace, the scrapers' service account, the operator's RBAC, and
# the operator's access entry (group trawl-operators).

locals {
  operator_group = "trawl-operators"
}

resource "kubernetes_namespace_v1" "trawl" {
  metadata {
    name = var.namespace
    labels = {
      # Scraper pods meet `restricted` (non-root, no capabilities,
      # seccomp RuntimeDefault); enforce `baseline`, warn on the rest.
      "pod-security.kubernetes.io/enforce" = "baseline"
      "pod-security.kubernetes.io/warn"    = "restricted"
      "pod-security.kubernetes.io/audit"   = "restricted"
    }
  }
  depends_on = [module.eks]
}

resource "kubernetes_service_account_v1" "scraper" {
  metadata {
    name      = "trawl-scraper"
    namespace = kubernetes_namespace_v1.trawl.metadata[0].name
    labels = {
      "app.kubernetes.io/name"       = "trawl-scraper"
      "app.kubernetes.io/managed-by" = "terraform"
    }
  }
  # Workers never call the Kubernetes API; their AWS rights come from Pod
  # Identity, which needs no token of this account.
  automount_service_account_token = false
}

# Cluster-wide reads for the fleet view.
resource "kubernetes_cluster_role_v1" "operator" {
  metadata {
    name = "trawl-operator"
  }
  rule {
    api_groups = [""]
    resources  = ["nodes", "pods"]
    verbs      = ["get", "list", "watch"]
  }
  rule {
    api_groups = ["karpenter.sh"]
    resources  = ["nodeclaims"]
    verbs      = ["get", "list", "watch"]
  }
}

resource "kubernetes_cluster_role_binding_v1" "operator" {
  metadata {
    name = "trawl-operator"
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "ClusterRole"
    name      = kubernetes_cluster_role_v1.operator.metadata[0].name
  }
  subject {
    kind      = "Group"
    name      = local.operator_group
    api_group = "rbac.authorization.k8s.io"
  }
}

# Launching in the namespace: a run's Jobs and their URL ConfigMaps.
resource "kubernetes_role_v1" "operator" {
  metadata {
    name      = "trawl-operator"
    namespace = kubernetes_namespace_v1.trawl.metadata[0].name
  }
  rule {
    api_groups = ["batch"]
    resources  = ["jobs"]
    verbs      = ["create", "get", "list", "delete"]
  }
  rule {
    api_groups = [""]
    resources  = ["configmaps"]
    verbs      = ["create", "get", "list", "delete"]
  }
}

resource "kubernetes_role_binding_v1" "operator" {
  metadata {
    name      = "trawl-operator"
    namespace = kubernetes_namespace_v1.trawl.metadata[0].name
  }
  role_ref {
    api_group = "rbac.authorization.k8s.io"
    kind      = "Role"
    name      = kubernetes_role_v1.operator.metadata[0].name
  }
  subject {
    kind      = "Group"
    name      = local.operator_group
    api_group = "rbac.authorization.k8s.io"
  }
}

# The operator's identity in the cluster: only the group above, no
# EKS access policy (so no cluster-admin).
resource "aws_eks_access_entry" "operator" {
  count             = var.operator_principal_arn == null ? 0 : 1
  cluster_name      = module.eks.cluster_name
  principal_arn     = var.operator_principal_arn
  kubernetes_groups = [local.operator_group]
  type              = "STANDARD"
}
