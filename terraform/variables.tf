variable "region" {
  description = "AWS region of everything trawl runs (config key `region`)."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of the EKS and ECS clusters and prefix of the other resources. provisioner.yaml uses the default (`trawl`) in its discovery tags and node role: change both together."
  type        = string
  default     = "trawl"
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (a version in standard support: extended support costs six times as much)."
  type        = string
  default     = "1.34"
}

variable "vpc_cidr" {
  description = "CIDR of the VPC."
  type        = string
  default     = "10.42.0.0/16"
}

variable "az_suffixes" {
  description = "Availability zones to spread subnets over, as suffixes of the region's name (Karpenter and Fargate pick among them)."
  type        = list(string)
  default     = ["a", "b", "c"]
}

variable "endpoint_public_access_cidrs" {
  description = "Networks allowed to reach the EKS API endpoint (the operator's machine runs trawl and kubectl from there). Narrow this to your own address."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "system_node_instance_types" {
  description = "Instance types of the small managed node group that runs the system pods and Karpenter (never scrapers: they carry no EIP)."
  type        = list(string)
  default     = ["t3.medium"]
}

variable "eip_pool_size" {
  description = "Elastic IPs in the pool: at most this many EKS nodes leave from pool addresses (provisioner.yaml's limits.nodes is set to it)."
  type        = number
  default     = 5

  validation {
    condition     = var.eip_pool_size >= 1 && var.eip_pool_size <= 100
    error_message = "eip_pool_size must be between 1 and 100 (the default EIP quota is 5 per region: raise it first)."
  }
}

variable "eip_pool_tag_key" {
  description = "Tag key that marks the pool's Elastic IPs."
  type        = string
  default     = "trawl:pool"
}

variable "eip_pool_tag_value" {
  description = "Tag value that marks the pool's Elastic IPs."
  type        = string
  default     = "default"
}

variable "namespace" {
  description = "Kubernetes namespace of the scraper jobs (config key `eks.namespace`)."
  type        = string
  default     = "trawl"
}

variable "bucket_name_prefix" {
  description = "Prefix of the content bucket's name (S3 adds a unique suffix)."
  type        = string
  default     = "trawl-content-"
}

variable "body_expiry_days" {
  description = "Days after which raw bodies expire from the bucket."
  type        = number
  default     = 30
}

variable "scraper_image_tag" {
  description = "Tag of the scraper image in the ECR repository (scripts/push-image.sh prints it); the task definition and the `scraper_image` output use it."
  type        = string
  default     = "v1"
}

variable "scraper_cpu" {
  description = "Fargate CPU units of one scraper task."
  type        = number
  default     = 256
}

variable "scraper_memory" {
  description = "Fargate memory (MiB) of one scraper task."
  type        = number
  default     = 512
}

variable "log_retention_days" {
  description = "Days the scrapers' and the cluster's logs are kept."
  type        = number
  default     = 14
}

variable "operator_principal_arn" {
  description = "IAM role or user that runs trawl: it gets an EKS access entry in the `trawl-operators` group. Attach the `operator_policy_arn` output to it as well. Null: no access entry."
  type        = string
  default     = null
}
