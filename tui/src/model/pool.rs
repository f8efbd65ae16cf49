//! The Elastic IP pool as the EIP view shows it: every address with the
//! operator's pool tag, free or associated (with its instance and, when the
//! fleet map knows it, its node). Egress IPs outside this set are flagged:
//! the pool was exhausted and a node kept its own (fallback) public IP.

/// One Elastic IP of the pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolAddress {
    pub public_ip: String,
    pub allocation_id: String,
    /// The instance it is associated with; None while free.
    pub instance_id: Option<String>,
    /// The private address it maps to (the node's primary address).
    pub private_ip: Option<String>,
}

impl PoolAddress {
    pub fn associated(&self) -> bool {
        self.instance_id.is_some() || self.private_ip.is_some()
    }
}

/// The pool as last read from EC2.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EipPool {
    /// The `key=value` tag that selects the pool's addresses.
    pub tag: String,
    /// Sorted by public IP.
    pub addresses: Vec<PoolAddress>,
    /// Unix seconds of the read.
    pub read_at: i64,
}

impl EipPool {
    pub fn associated(&self) -> usize {
        self.addresses.iter().filter(|a| a.associated()).count()
    }

    pub fn contains(&self, ip: &str) -> bool {
        self.addresses.iter().any(|a| a.public_ip == ip)
    }
}

/// What the EIP view has: nothing asked yet, the last read, or why not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolView {
    pub pool: Option<EipPool>,
    /// The last read failed (the previous pool, if any, stays shown).
    pub error: Option<String>,
    pub loading: bool,
    /// Unix seconds of the last request (the open view asks again after a while).
    pub asked_at: i64,
}
