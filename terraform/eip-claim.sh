#!/usr/bin/env bash
# trawl EIP claim: give this node one Elastic IP from the operator's pool.
#
# Runs once at boot from the EC2NodeClass userData (provisioner.yaml holds
# the same text; tests/tests/infra.rs keeps the two identical). Every node
# must leave from a known address, so:
# - IMDSv2 only (token first), for the instance id and region;
# - idempotent: an instance that already holds a pool address exits 0;
# - race-safe: free addresses are listed by the pool tag and shuffled, then
#   associated by instance id with reassociation refused, so two nodes can
#   never take the same address; on Resource.AlreadyAssociated the next one
#   is tried; bounded rounds with jitter, and a hard deadline far inside
#   Karpenter's 15-minute registration limit;
# - when the pool is empty, the node keeps its own public IP and is tagged
#   trawl:eip=fallback, so trawl flags the URLs that left from it.
# Exit status is 0 in every outcome but a broken metadata service: a node
# without a pool address is still useful, and trawl says so.
#
# Settings (environment; the defaults are production's):
#   TRAWL_IMDS_URL      metadata base URL (tests point it at a loopback stub)
#   TRAWL_POOL_TAG      KEY=VALUE tag of the pool's addresses
#   TRAWL_CLAIM_ROUNDS  listing rounds before giving up on the pool
#   TRAWL_CLAIM_DEADLINE_SECS  hard deadline for the whole claim
set -euo pipefail

imds="${TRAWL_IMDS_URL:-http://169.254.169.254}"
pool_tag="${TRAWL_POOL_TAG:-trawl:pool=default}"
rounds="${TRAWL_CLAIM_ROUNDS:-6}"
deadline=$((SECONDS + ${TRAWL_CLAIM_DEADLINE_SECS:-300}))
pool_key="${pool_tag%%=*}"
pool_value="${pool_tag#*=}"
fallback_key="trawl:eip"
fallback_value="fallback"

# Bounded AWS CLI calls: a dead endpoint fails in seconds, not minutes.
export AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=3 AWS_PAGER=""
aws_ec2() {
  aws --cli-connect-timeout 5 --cli-read-timeout 15 --output text ec2 "$@"
}

log() { printf 'trawl-eip-claim: %s\n' "$*" >&2; }

# IMDSv2: a session token, then every read carries it. Hop limit 1 on the
# node keeps pods from reaching it.
token="$(curl -fsS --max-time 3 --retry 5 --retry-delay 1 --retry-connrefused \
  -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$imds/latest/api/token")"
meta() {
  curl -fsS --max-time 3 --retry 5 --retry-delay 1 --retry-connrefused \
    -H "X-aws-ec2-metadata-token: $token" "$imds/latest/meta-data/$1"
}
instance_id="$(meta instance-id)"
region="$(meta placement/region)"
export AWS_REGION="$region" AWS_DEFAULT_REGION="$region"
log "instance $instance_id in $region, pool $pool_key=$pool_value"

# One look at the pool: sets `held` (the pool address this instance
# holds, or empty) and `free` ("allocation ip" of unassociated addresses).
# The query prints "allocation holder association ip" per address, "-"
# for none (moto answers "" where EC2 leaves the field out).
look() {
  local listing allocation holder association ip
  # shellcheck disable=SC2016 # JMESPath literals, not shell expansions.
  listing="$(aws_ec2 describe-addresses --filters "Name=tag:$pool_key,Values=$pool_value" \
    --query 'Addresses[].[AllocationId, InstanceId || `-`, AssociationId || `-`, PublicIp]')" || return 1
  held="" free=()
  while read -r allocation holder association ip; do
    [[ -n "${allocation:-}" ]] || continue
    [[ "$holder" == "$instance_id" ]] && held="$ip"
    [[ "$association" == "-" ]] && free+=("$allocation $ip")
  done <<<"$listing"
  return 0
}

round=1
while :; do
  # Looked at every round: an association whose answer was lost still
  # counts, and a rerun on a claimed node changes nothing.
  if look; then
    if [[ -n "$held" ]]; then
      log "holds pool address $held"
      exit 0
    fi
    if ((${#free[@]} == 0)); then
      log "round $round: the pool has no free address"
      break
    fi
    # Shuffled, so racing nodes spread over the free addresses; at most
    # two tries a round, then a fresh look (the rest may be gone too).
    tries=0
    while read -r allocation ip; do
      ((tries < 2 && SECONDS < deadline)) || break
      tries=$((tries + 1))
      if err="$(aws_ec2 associate-address --allocation-id "$allocation" \
        --instance-id "$instance_id" --no-allow-reassociation 2>&1 >/dev/null)"; then
        log "claimed pool address $ip ($allocation)"
        exit 0
      fi
      case "$err" in
        *Resource.AlreadyAssociated*) log "$ip was taken by another node" ;;
        *) log "$ip: $err" ;;
      esac
    done < <(printf '%s\n' "${free[@]}" | shuf)
  else
    log "round $round: cannot list the pool"
  fi
  round=$((round + 1))
  if ((round > rounds || SECONDS >= deadline)); then
    # Out of rounds: a last look, in case an answer was lost on the way.
    if look && [[ -n "$held" ]]; then
      log "holds pool address $held"
      exit 0
    fi
    break
  fi
  # A pause of `round` seconds (at most 6) plus up to 1 s of jitter, so
  # nodes that lost the same race do not collide again in lockstep: 25 s
  # at most over six rounds.
  sleep "$((round < 6 ? round : 6)).$((RANDOM % 1000))"
done

log "no pool address: keeping the instance's own public IP, tagging $fallback_key=$fallback_value"
aws_ec2 create-tags --resources "$instance_id" --tags "Key=$fallback_key,Value=$fallback_value" ||
  log "could not tag the instance as fallback"
exit 0
