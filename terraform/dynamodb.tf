# The results table of DESIGN.md: one record per URL per run plus one run
# item per run. Keys and index names must equal the Rust constants in
# scraper/src/sink/item.rs (`schema`); tests/tests/schema.rs parses this file
# and checks it.

variable "table_name" {
  description = "Name of the DynamoDB results table."
  type        = string
  default     = "trawl-results"
}

resource "aws_dynamodb_table" "results" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key; a customer key would add per-request KMS cost and KMS grants to every role that reads or writes records, without narrowing access (IAM scopes it to this table).
  name         = var.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "run_id"
  range_key    = "url_key"

  attribute {
    name = "run_id"
    type = "S"
  }
  attribute {
    name = "url_key"
    type = "S"
  }
  attribute {
    name = "updated_at"
    type = "S"
  }
  attribute {
    name = "egress_ip"
    type = "S"
  }
  attribute {
    name = "kind"
    type = "S"
  }
  attribute {
    name = "created_at"
    type = "S"
  }

  # Incremental polling: what changed in a run since a point in time.
  global_secondary_index {
    name            = "by-update"
    hash_key        = "run_id"
    range_key       = "updated_at"
    projection_type = "ALL"
  }

  # Which URLs left from this IP (egress_ip is absent, not empty, when unknown).
  global_secondary_index {
    name            = "by-ip"
    hash_key        = "egress_ip"
    range_key       = "run_id"
    projection_type = "ALL"
  }

  # Sparse: only run items carry `kind`.
  global_secondary_index {
    name            = "runs"
    hash_key        = "kind"
    range_key       = "created_at"
    projection_type = "ALL"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

output "table" {
  description = "The results table (config key `table`)."
  value       = aws_dynamodb_table.results.name
}
