//! What the fleet map shows: nodes with their pods (EKS), tasks grouped by
//! public IP (ECS), or this machine and its workers (local). Targets send
//! whole snapshots; the map never reads the cluster itself.

use std::collections::{BTreeMap, HashMap};
use trawl_scraper::record::Record;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NodeState {
    /// A Karpenter NodeClaim whose Node has not registered yet.
    Launching,
    #[default]
    Ready,
    NotReady,
    /// Cordoned or being drained (Karpenter consolidation).
    Draining,
    /// Not a node: the row of pods no node has taken yet.
    Waiting,
}

impl NodeState {
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Launching => "launching",
            NodeState::Ready => "ready",
            NodeState::NotReady => "not ready",
            NodeState::Draining => "draining",
            NodeState::Waiting => "waiting",
        }
    }
}

/// Pods (or local workers, or ECS tasks) by phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseCounts {
    pub pending: usize,
    pub running: usize,
    pub succeeded: usize,
    pub failed: usize,
}

impl PhaseCounts {
    pub fn total(&self) -> usize {
        self.pending + self.running + self.succeeded + self.failed
    }

    pub fn add(&mut self, other: &PhaseCounts) {
        self.pending += other.pending;
        self.running += other.running;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub instance_type: Option<String>,
    /// spot, on-demand.
    pub capacity_type: Option<String>,
    /// Seconds since the node was created, when known.
    pub age_secs: Option<u64>,
    pub state: NodeState,
    pub public_ip: Option<String>,
    /// The public IP is an Elastic IP of the operator's pool.
    pub pool_eip: bool,
    /// Workers recorded another egress IP than the node's public IP.
    pub ip_mismatch: Option<String>,
    pub pods: PhaseCounts,
    /// Problems worth a look: pending too long, image pull, OOM, deadline.
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskGroup {
    pub public_ip: String,
    pub subnet: Option<String>,
    pub zone: Option<String>,
    pub tasks: PhaseCounts,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fleet {
    /// Until the first complete list arrives, the map says "syncing".
    pub synced: bool,
    pub nodes: Vec<NodeView>,
    pub task_groups: Vec<TaskGroup>,
    /// Size of the Elastic IP pool, when known.
    pub pool_total: Option<usize>,
    /// Whether each node's `pool_eip` is known (the pool was read, or the
    /// nodes say it): the map then shows EIP or fallback per node.
    pub pool_known: bool,
    /// While a target is still launching a run's URLs (ECS): how far.
    pub launch: Option<LaunchProgress>,
}

/// A run's launches so far (ECS: RunTask calls).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LaunchProgress {
    pub total: usize,
    /// Tasks started (relaunches included).
    pub launched: usize,
    /// URLs not launched yet (queued behind the rate limit).
    pub waiting: usize,
    /// Launches that failed for good (their records are FAILED).
    pub failed: usize,
    /// Stopped tasks launched again with the next attempt.
    pub relaunched: usize,
}

impl Fleet {
    pub fn pods(&self) -> PhaseCounts {
        let mut all = PhaseCounts::default();
        for n in &self.nodes {
            all.add(&n.pods);
        }
        for g in &self.task_groups {
            all.add(&g.tasks);
        }
        all
    }

    /// Distinct public IPs in use by nodes and task groups.
    pub fn unique_ips(&self) -> usize {
        let mut ips: BTreeMap<&str, ()> = BTreeMap::new();
        for ip in self
            .nodes
            .iter()
            .filter_map(|n| n.public_ip.as_deref())
            .chain(self.task_groups.iter().map(|g| g.public_ip.as_str()))
        {
            ips.insert(ip, ());
        }
        ips.len()
    }

    pub fn pool_eips_used(&self) -> usize {
        self.nodes.iter().filter(|n| n.pool_eip).count()
    }

    /// Cross-checks each node's public IP with the egress IPs its workers
    /// recorded (EKS: a record's `node` is the node name): a URL that left
    /// from another IP means the node's EIP is not what the map believes
    /// (the claim failed or moved), and the node says so.
    pub fn flag_egress_mismatches(&mut self, records: &[Record]) {
        if self.nodes.iter().all(|n| n.public_ip.is_none()) {
            return;
        }
        for n in &mut self.nodes {
            n.ip_mismatch = None;
        }
        let names: HashMap<&str, usize> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.public_ip.is_some())
            .map(|(i, n)| (n.name.as_str(), i))
            .collect();
        // Per node: the other IPs seen, and how many URLs left from them.
        let mut seen: HashMap<usize, BTreeMap<&str, usize>> = HashMap::new();
        for r in records {
            let (Some(node), Some(egress)) = (r.node.as_deref(), r.egress_ip.as_deref()) else {
                continue;
            };
            let Some(&i) = names.get(node) else { continue };
            if self.nodes[i].public_ip.as_deref() != Some(egress) {
                *seen.entry(i).or_default().entry(egress).or_default() += 1;
            }
        }
        drop(names);
        for (i, ips) in seen {
            let text = ips
                .iter()
                .map(|(ip, n)| format!("{ip} ({n} URL{})", if *n == 1 { "" } else { "s" }))
                .collect::<Vec<_>>()
                .join(", ");
            self.nodes[i].ip_mismatch = Some(format!(
                "workers left from {text}, not the node's {}",
                self.nodes[i].public_ip.as_deref().unwrap_or("-")
            ));
        }
    }
}
