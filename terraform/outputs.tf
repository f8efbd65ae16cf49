# Everything `trawl init --terraform-output` reads (tui/src/config.rs,
# `Config::from_terraform_output`; tests/tests/infra.rs checks the names),
# plus what the scripts and the operator need. `table` is in dynamodb.tf.

output "region" {
  description = "AWS region (config key `region`)."
  value       = var.region
}

output "bucket" {
  description = "Content bucket of raw bodies (config key `bucket`)."
  value       = aws_s3_bucket.content.id
}

output "eks_cluster" {
  description = "EKS cluster name (config key `eks.cluster`)."
  value       = module.eks.cluster_name
}

output "eks_namespace" {
  description = "Namespace of the scraper jobs (config key `eks.namespace`)."
  value       = kubernetes_namespace_v1.trawl.metadata[0].name
}

output "scraper_image" {
  description = "Scraper image, the same for EKS pods and the ECS task definition (config key `eks.image`)."
  value       = local.scraper_image
}

output "ecr_repository" {
  description = "ECR repository that scripts/push-image.sh pushes to."
  value       = aws_ecr_repository.scraper.repository_url
}

output "ecs_cluster" {
  description = "ECS cluster name (config key `ecs.cluster`)."
  value       = aws_ecs_cluster.main.name
}

output "ecs_task_definition" {
  description = "Task definition family (config key `ecs.task_definition`)."
  value       = aws_ecs_task_definition.scraper.family
}

output "ecs_subnets" {
  description = "Public subnets for Fargate tasks with public IPs (config key `ecs.subnets`)."
  value       = module.vpc.public_subnets
}

output "ecs_security_groups" {
  description = "Egress-only security group of the tasks (config key `ecs.security_groups`)."
  value       = [aws_security_group.scraper_tasks.id]
}

output "eip_pool_tag" {
  description = "KEY=VALUE tag of the pool's Elastic IPs (config key `pool.tag`)."
  value       = "${var.eip_pool_tag_key}=${var.eip_pool_tag_value}"
}

output "eip_pool_addresses" {
  description = "The pool's public IPs."
  value       = aws_eip.pool[*].public_ip
}

output "operator_policy_arn" {
  description = "IAM policy with what `trawl` calls: attach it to the operator's role or user."
  value       = aws_iam_policy.operator.arn
}

output "karpenter_node_role" {
  description = "Node role named by provisioner.yaml's EC2NodeClass."
  value       = module.karpenter.node_iam_role_name
}
