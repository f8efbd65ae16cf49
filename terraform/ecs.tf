# The ECS target (DESIGN.md "ECS contract"): one Fargate task per URL, in a
# public subnet with its own public IP (RunTask's assignPublicIp ENABLED).

resource "aws_ecs_cluster" "main" {
  #checkov:skip=CKV_AWS_65:Container Insights bills metrics per task; trawl runs thousands of one-minute tasks and records every outcome in DynamoDB itself.
  name = var.name
}

resource "aws_ecs_cluster_capacity_providers" "main" {
  cluster_name       = aws_ecs_cluster.main.name
  capacity_providers = ["FARGATE"]
}

resource "aws_cloudwatch_log_group" "scraper" {
  #checkov:skip=CKV_AWS_158:The workers' JSON logs hold URLs and outcomes that the results table holds too; CloudWatch encrypts them at rest with its own keys.
  #checkov:skip=CKV_AWS_338:Worker logs are for debugging recent runs; the durable result of every URL is its DynamoDB record, so a year of logs would only add cost.
  name              = "/${var.name}/scraper"
  retention_in_days = var.log_retention_days
}

# Egress only: a worker fetches public sites on whatever port their URL
# names (its own guard refuses private, loopback and metadata addresses).
resource "aws_security_group" "scraper_tasks" {
  #checkov:skip=CKV2_AWS_5:Attached at launch: trawl passes it to every RunTask (output ecs_security_groups), so no resource here references it.
  name        = "${var.name}-scraper-tasks"
  description = "trawl scraper tasks: no inbound, outbound TCP to the internet"
  vpc_id      = module.vpc.vpc_id

  egress {
    description      = "URLs on any TCP port"
    from_port        = 0
    to_port          = 65535
    protocol         = "tcp"
    cidr_blocks      = ["0.0.0.0/0"]
    ipv6_cidr_blocks = ["::/0"]
  }
}

resource "aws_ecs_task_definition" "scraper" {
  family                   = "trawl-scraper"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.scraper_cpu
  memory                   = var.scraper_memory
  execution_role_arn       = aws_iam_role.scraper_execution.arn
  task_role_arn            = aws_iam_role.scraper.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  container_definitions = jsonencode([{
    name      = "scraper"
    image     = local.scraper_image
    essential = true
    # The image's own user; the worker writes nothing to its filesystem.
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    privileged             = false
    linuxParameters        = { capabilities = { drop = ["ALL"] } }
    environment = [
      { name = "TRAWL_SINK", value = "aws" },
      { name = "TRAWL_BUCKET", value = aws_s3_bucket.content.id },
      { name = "TRAWL_TABLE", value = aws_dynamodb_table.results.name },
      { name = "AWS_REGION", value = var.region },
    ]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.scraper.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "scraper"
      }
    }
  }])
}
