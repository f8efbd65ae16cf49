# The Elastic IP pool: the EKS nodes' known egress addresses. Each node
# claims one free address at boot (eip-claim.sh); trawl reads the pool by
# the same tag (config key `pool.tag`).

resource "aws_eip" "pool" {
  #checkov:skip=CKV2_AWS_19:Pool addresses are associated at boot by the Karpenter nodes themselves (eip-claim.sh), never by Terraform; a free address is the pool's spare capacity.
  count  = var.eip_pool_size
  domain = "vpc"

  tags = {
    Name                   = "${var.name}-pool-${count.index}"
    (var.eip_pool_tag_key) = var.eip_pool_tag_value
  }
}
