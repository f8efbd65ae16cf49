# Raw bodies (S3) and the scraper image (ECR). The results table is in
# dynamodb.tf.

resource "aws_s3_bucket" "content" {
  #checkov:skip=CKV_AWS_18:Access logs would record every worker's PutObject and trawl's reads into a second bucket; CloudTrail data events can be enabled account-wide instead.
  #checkov:skip=CKV_AWS_144:Bodies are regenerable scan output that expires after body_expiry_days; a replica in a second region doubles the cost for no use.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES-256) encrypts every object; a KMS key would add per-request cost and KMS permissions to every role without narrowing access, which IAM already scopes to this bucket.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events: trawl learns of new bodies from the DynamoDB records.
  #checkov:skip=CKV_AWS_21:A URL's body is written again only by a retry of the same URL; versions would keep every superseded body until expiry and make emptying the bucket slower.
  bucket_prefix = var.bucket_name_prefix
}

resource "aws_s3_bucket_public_access_block" "content" {
  bucket                  = aws_s3_bucket.content.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "content" {
  bucket = aws_s3_bucket.content.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "content" {
  bucket = aws_s3_bucket.content.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "content" {
  bucket = aws_s3_bucket.content.id

  rule {
    id     = "expire-bodies"
    status = "Enabled"
    filter {}
    expiration {
      days = var.body_expiry_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# TLS only: any request over plain HTTP is refused, whoever makes it.
data "aws_iam_policy_document" "content_tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.content.arn, "${aws_s3_bucket.content.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "content" {
  bucket = aws_s3_bucket.content.id
  policy = data.aws_iam_policy_document.content_tls_only.json
  # The public access block must exist first, or a policy could briefly apply without it.
  depends_on = [aws_s3_bucket_public_access_block.content]
}

resource "aws_ecr_repository" "scraper" {
  #checkov:skip=CKV_AWS_136:AES-256 (ECR's default) encrypts the layers; a KMS key would add a key policy and KMS permissions to every node and task for no narrower access.
  name                 = "${var.name}-scraper"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }
}

# Old images go by themselves: keep the newest 10 (tags are immutable, so
# every push is a new image).
resource "aws_ecr_lifecycle_policy" "scraper" {
  repository = aws_ecr_repository.scraper.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the newest 10 images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 10
      }
      action = { type = "expire" }
    }]
  })
}

locals {
  scraper_image = "${aws_ecr_repository.scraper.repository_url}:${var.scraper_image_tag}"
}
