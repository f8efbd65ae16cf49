# Public subnets carry the scrapers: Karpenter's nodes (each claims a pool
# EIP) and Fargate tasks (public IP assigned). Private subnets carry the
# managed node group that runs the system pods, behind one NAT gateway.

# A closed set of zones (by name), so a zone AWS adds later never moves
# the subnets. Local Zones and Wavelength are excluded by the names.
data "aws_availability_zones" "available" {
  filter {
    name   = "zone-name"
    values = [for s in var.az_suffixes : "${var.region}${s}"]
  }
}

locals {
  azs = sort(data.aws_availability_zones.available.names)
}

module "vpc" {
  #checkov:skip=CKV_TF_1:Registry module pinned to an exact release; the registry protocol has no commit-hash form (a git source would lose the registry's version checks).
  source  = "terraform-aws-modules/vpc/aws"
  version = "6.6.1"

  name = var.name
  cidr = var.vpc_cidr
  azs  = local.azs

  # /20s for the scrapers (many short-lived ENIs), /22s for the system nodes.
  public_subnets  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, i)]
  private_subnets = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 6, 48 + i)]

  # One NAT gateway: the private side only runs system pods (cost).
  enable_nat_gateway = true
  single_nat_gateway = true

  # Karpenter asks for a public IP itself (associatePublicIPAddress in
  # provisioner.yaml) and Fargate through assignPublicIp: nothing else
  # launched here gets one by default.
  map_public_ip_on_launch = false

  public_subnet_tags = {
    # Karpenter's subnetSelectorTerms (provisioner.yaml).
    "karpenter.sh/discovery" = var.name
  }

  enable_flow_log                                 = true
  create_flow_log_cloudwatch_log_group            = true
  create_flow_log_cloudwatch_iam_role             = true
  flow_log_max_aggregation_interval               = 600
  flow_log_cloudwatch_log_group_retention_in_days = var.log_retention_days
}
