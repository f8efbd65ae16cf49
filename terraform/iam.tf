# Least privilege, every statement scoped to the resources it needs.
# Actions that support no resource-level permissions (EC2 Describe*,
# ecr:GetAuthorizationToken) are the only ones on "*", and say so.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  ec2_arn   = "arn:${local.partition}:ec2:${var.region}:${local.account}"
  ecs_arn   = "arn:${local.partition}:ecs:${var.region}:${local.account}"
  # Karpenter and EKS tag every instance of the cluster with this.
  cluster_instance_tag = "kubernetes.io/cluster/${var.name}"
}

################################################################################
# The scraper: EKS pods (Pod Identity, service account trawl-scraper) and
# ECS tasks (task role) share one role. It may only put bodies under the
# bucket and put/update records in the table.
################################################################################

data "aws_iam_policy_document" "scraper_trust" {
  statement {
    sid     = "EksPodIdentity"
    actions = ["sts:AssumeRole", "sts:TagSession"]
    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [module.eks.cluster_arn]
    }
    # Only the scraper's service account, whatever association is made.
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-namespace"
      values   = [var.namespace]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/kubernetes-service-account"
      values   = ["trawl-scraper"]
    }
  }
  statement {
    sid     = "EcsTasks"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["${local.ecs_arn}:*"]
    }
  }
}

resource "aws_iam_role" "scraper" {
  name               = "${var.name}-scraper"
  description        = "trawl worker: put bodies in the bucket, put/update records in the table"
  assume_role_policy = data.aws_iam_policy_document.scraper_trust.json
}

data "aws_iam_policy_document" "scraper" {
  statement {
    sid       = "PutBodies"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.content.arn}/*"]
  }
  statement {
    sid       = "WriteRecords"
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.results.arn]
  }
}

resource "aws_iam_role_policy" "scraper" {
  name   = "scraper"
  role   = aws_iam_role.scraper.id
  policy = data.aws_iam_policy_document.scraper.json
}

resource "aws_eks_pod_identity_association" "scraper" {
  cluster_name    = module.eks.cluster_name
  namespace       = var.namespace
  service_account = "trawl-scraper"
  role_arn        = aws_iam_role.scraper.arn
}

# ECS's own role for a task: pull the image, write its logs. Written out
# instead of AmazonECSTaskExecutionRolePolicy, which allows every
# repository and log group of the account.
data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "scraper_execution" {
  name               = "${var.name}-scraper-execution"
  description        = "ECS: pull the trawl scraper image and write its logs"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
}

data "aws_iam_policy_document" "scraper_execution" {
  statement {
    sid = "EcrLogin"
    # GetAuthorizationToken has no resource-level permissions.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.scraper.arn]
  }
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.scraper.arn}:log-stream:*"]
  }
}

resource "aws_iam_role_policy" "scraper_execution" {
  name   = "execution"
  role   = aws_iam_role.scraper_execution.id
  policy = data.aws_iam_policy_document.scraper_execution.json
}

################################################################################
# The node role (Karpenter's module creates it) gains what eip-claim.sh
# calls: associate a pool address (pool tag on the address) with an
# instance of this cluster (cluster tag on the instance), list addresses,
# and tag its own instance as fallback (that one tag only).
################################################################################

data "aws_iam_policy_document" "eip_claim" {
  statement {
    sid       = "AssociatePoolAddresses"
    actions   = ["ec2:AssociateAddress"]
    resources = ["${local.ec2_arn}:elastic-ip/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${var.eip_pool_tag_key}"
      values   = [var.eip_pool_tag_value]
    }
  }
  statement {
    sid       = "ToClusterInstances"
    actions   = ["ec2:AssociateAddress"]
    resources = ["${local.ec2_arn}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.cluster_instance_tag}"
      values   = ["owned"]
    }
  }
  # Associating by instance id also authorises the instance's primary
  # network interface; only those in this VPC.
  statement {
    sid       = "ToClusterNetworkInterfaces"
    actions   = ["ec2:AssociateAddress"]
    resources = ["${local.ec2_arn}:network-interface/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:Vpc"
      values   = [module.vpc.vpc_arn]
    }
  }
  statement {
    sid = "ListAddresses"
    # DescribeAddresses has no resource-level permissions.
    actions   = ["ec2:DescribeAddresses"]
    resources = ["*"]
  }
  statement {
    sid       = "TagFallback"
    actions   = ["ec2:CreateTags"]
    resources = ["${local.ec2_arn}:instance/*"]
    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/${local.cluster_instance_tag}"
      values   = ["owned"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/trawl:eip"
      values   = ["fallback"]
    }
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["trawl:eip"]
    }
  }
}

resource "aws_iam_policy" "eip_claim" {
  name        = "${var.name}-eip-claim"
  description = "trawl nodes: claim one Elastic IP of the pool at boot, or tag themselves as fallback"
  policy      = data.aws_iam_policy_document.eip_claim.json
}

################################################################################
# The operator: what `trawl` calls. Attach `operator_policy_arn` to the
# role or user that runs trawl (its error messages point here).
################################################################################

data "aws_iam_policy_document" "operator" {
  statement {
    sid = "ReadRecords"
    # Query: cursor polling through `by-update`, runs through `runs`,
    # per-IP through `by-ip`.
    actions = ["dynamodb:Query", "dynamodb:GetItem"]
    resources = [
      aws_dynamodb_table.results.arn,
      "${aws_dynamodb_table.results.arn}/index/*",
    ]
  }
  statement {
    sid = "WriteRecords"
    # Run items (PutItem), QUEUED records (TransactWriteItems of
    # conditional Puts: IAM checks each as PutItem, and ConditionCheckItem
    # for condition checks; there is no TransactWriteItems action), failed
    # launches (UpdateItem).
    actions   = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
    resources = [aws_dynamodb_table.results.arn]
  }
  statement {
    sid = "ReadBodies"
    # Previews (ranged GET) and presigned links (signed with these rights).
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.content.arn}/*"]
  }
  statement {
    sid = "ListBodies"
    # So a missing body reads as NoSuchKey, not as AccessDenied.
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.content.arn]
  }
  statement {
    sid = "PoolAndTaskAddresses"
    # The pool view and Fargate tasks' public IPs; Describe* have no
    # resource-level permissions.
    actions   = ["ec2:DescribeAddresses", "ec2:DescribeNetworkInterfaces"]
    resources = ["*"]
  }
  statement {
    sid       = "RunTasks"
    actions   = ["ecs:RunTask"]
    resources = ["${local.ecs_arn}:task-definition/${aws_ecs_task_definition.scraper.family}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }
  statement {
    sid = "TagTasksAtLaunch"
    # RunTask's `trawl:run-id` tag.
    actions   = ["ecs:TagResource"]
    resources = ["${local.ecs_arn}:task/${aws_ecs_cluster.main.name}/*"]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }
  statement {
    sid = "ListTasks"
    # ListTasks names no task in the request: it is scoped by its cluster
    # condition (the form AWS documents), not by a resource ARN.
    actions   = ["ecs:ListTasks"]
    resources = ["*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.main.arn]
    }
  }
  statement {
    sid       = "TrackTasks"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["${local.ecs_arn}:task/${aws_ecs_cluster.main.name}/*"]
  }
  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.scraper.arn, aws_iam_role.scraper_execution.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid = "Cluster"
    # `aws eks update-kubeconfig` and the kube context.
    actions   = ["eks:DescribeCluster"]
    resources = [module.eks.cluster_arn]
  }
}

resource "aws_iam_policy" "operator" {
  name        = "${var.name}-operator"
  description = "What the trawl operator program calls: results, bodies, the EIP pool, ECS tasks, the EKS cluster"
  policy      = data.aws_iam_policy_document.operator.json
}
