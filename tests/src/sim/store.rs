//! The simulator's etcd: every object as a `serde_json::Value`, one global
//! resourceVersion counter, a bounded event history for watches that start
//! from an older resourceVersion, and a broadcast fan-out to live watches.

use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, broadcast};

/// One resource type the simulator serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    /// Plural, as in URLs (`pods`).
    pub plural: &'static str,
    pub kind: &'static str,
    /// "" for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
}

impl Resource {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

pub const RESOURCES: &[Resource] = &[
    Resource {
        plural: "namespaces",
        kind: "Namespace",
        group: "",
        version: "v1",
        namespaced: false,
        short_names: &["ns"],
    },
    Resource {
        plural: "nodes",
        kind: "Node",
        group: "",
        version: "v1",
        namespaced: false,
        short_names: &["no"],
    },
    Resource {
        plural: "pods",
        kind: "Pod",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &["po"],
    },
    Resource {
        plural: "configmaps",
        kind: "ConfigMap",
        group: "",
        version: "v1",
        namespaced: true,
        short_names: &["cm"],
    },
    Resource {
        plural: "jobs",
        kind: "Job",
        group: "batch",
        version: "v1",
        namespaced: true,
        short_names: &[],
    },
    Resource {
        plural: "nodeclaims",
        kind: "NodeClaim",
        group: "karpenter.sh",
        version: "v1",
        namespaced: false,
        short_names: &[],
    },
];

/// The resource of `plural` in `group` ("" = core).
pub fn resource(group: &str, plural: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.plural == plural)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as a watch sees it.
#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub plural: &'static str,
    pub kind: EventType,
    pub object: Value,
    /// The object before a MODIFIED change (for selector transitions).
    pub prev: Option<Value>,
}

/// Why a write failed, as the API server would say it.
#[derive(Debug)]
pub enum StoreError {
    NotFound,
    AlreadyExists,
    Conflict,
}

type Key = (&'static str, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<Key, Value>,
    history: VecDeque<Arc<Event>>,
    /// Watches may start from any resourceVersion >= this.
    compacted: u64,
    history_cap: usize,
    uid: u64,
}

impl Inner {
    /// Every object of `plural` (in `ns`, or all namespaces), in key order.
    fn objects_of(&self, plural: &'static str, ns: Option<&str>) -> Vec<Value> {
        self.objects
            .range((plural, String::new(), String::new())..)
            .take_while(|((p, _, _), _)| *p == plural)
            .filter(|((_, n, _), _)| ns.is_none_or(|ns| ns == n))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

pub struct Store {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Event>>,
    /// Woken on every write (the controllers' trigger).
    pub changed: Notify,
}

/// What a watch gets: the events since its resourceVersion and the live feed.
pub struct Subscription {
    pub backlog: Vec<Arc<Event>>,
    pub rx: broadcast::Receiver<Arc<Event>>,
}

pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or("")
}

impl Store {
    pub fn new(history_cap: usize) -> Store {
        let (tx, _) = broadcast::channel(65_536);
        Store {
            inner: Mutex::new(Inner {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                compacted: 1,
                history_cap,
                uid: 0,
            }),
            tx,
            changed: Notify::new(),
        }
    }

    pub fn resource_version(&self) -> u64 {
        lock(&self.inner).rv
    }

    /// The oldest resourceVersion a watch may start from.
    pub fn compacted(&self) -> u64 {
        lock(&self.inner).compacted
    }

    /// Forgets the event history: every watch from an older
    /// resourceVersion now gets 410 Gone (as after an etcd compaction).
    pub fn compact(&self) {
        let mut inner = lock(&self.inner);
        inner.compacted = inner.rv;
        inner.history.clear();
    }

    fn record(
        &self,
        inner: &mut Inner,
        plural: &'static str,
        kind: EventType,
        object: Value,
        prev: Option<Value>,
    ) {
        let event = Arc::new(Event {
            rv: inner.rv,
            plural,
            kind,
            object,
            prev,
        });
        inner.history.push_back(event.clone());
        while inner.history.len() > inner.history_cap {
            if let Some(old) = inner.history.pop_front() {
                inner.compacted = old.rv;
            }
        }
        let _ = self.tx.send(event);
        self.changed.notify_waiters();
    }

    pub fn get(&self, plural: &'static str, ns: &str, name: &str) -> Option<Value> {
        lock(&self.inner)
            .objects
            .get(&(plural, ns.to_owned(), name.to_owned()))
            .cloned()
    }

    /// Every object of `plural` (in `ns`, or all namespaces for None), in
    /// key order, and the resourceVersion of that snapshot.
    pub fn list(&self, plural: &'static str, ns: Option<&str>) -> (Vec<Value>, u64) {
        let inner = lock(&self.inner);
        let items = inner.objects_of(plural, ns);
        (items, inner.rv)
    }

    /// One page of a list: objects of `plural` (in `ns`, or every
    /// namespace) after the key `after` (namespace, name) that `keep`
    /// accepts, at most `limit`; whether more follow; the resourceVersion.
    /// Only the page is cloned.
    pub fn list_page(
        &self,
        plural: &'static str,
        ns: Option<&str>,
        after: Option<(&str, &str)>,
        limit: Option<usize>,
        keep: impl Fn(&Value) -> bool,
    ) -> (Vec<Value>, bool, u64) {
        use std::ops::Bound;
        let inner = lock(&self.inner);
        let start = match after {
            Some((n, name)) => Bound::Excluded((plural, n.to_owned(), name.to_owned())),
            None => Bound::Included((plural, ns.unwrap_or("").to_owned(), String::new())),
        };
        let mut page = Vec::new();
        let mut more = false;
        for ((p, n, _), v) in inner.objects.range((start, Bound::Unbounded)) {
            if *p != plural || ns.is_some_and(|ns| ns != n) {
                if *p != plural || ns.is_some_and(|ns| ns < n.as_str()) {
                    break;
                }
                continue;
            }
            if !keep(v) {
                continue;
            }
            if limit.is_some_and(|l| page.len() >= l) {
                more = true;
                break;
            }
            page.push(v.clone());
        }
        (page, more, inner.rv)
    }

    /// Creates `obj` (metadata filled in: uid, resourceVersion,
    /// creationTimestamp, generation; generateName honoured).
    pub fn create(&self, res: &'static Resource, mut obj: Value) -> Result<Value, StoreError> {
        let mut inner = lock(&self.inner);
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        if meta_str(&obj, "name").is_empty() {
            let prefix = meta_str(&obj, "generateName").to_owned();
            obj["metadata"]["name"] = json!(format!("{prefix}{}", rand_suffix(5)));
        }
        if !res.namespaced
            && let Some(m) = obj["metadata"].as_object_mut()
        {
            m.remove("namespace");
        }
        let key = (
            res.plural,
            meta_str(&obj, "namespace").to_owned(),
            meta_str(&obj, "name").to_owned(),
        );
        if inner.objects.contains_key(&key) {
            return Err(StoreError::AlreadyExists);
        }
        inner.rv += 1;
        inner.uid += 1;
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        let m = &mut obj["metadata"];
        m["uid"] = json!(format!("00000000-0000-4000-8000-{:012x}", inner.uid));
        m["resourceVersion"] = json!(inner.rv.to_string());
        m["creationTimestamp"] = json!(now_rfc3339());
        m["generation"] = json!(1);
        inner.objects.insert(key, obj.clone());
        self.record(&mut inner, res.plural, EventType::Added, obj.clone(), None);
        Ok(obj)
    }

    /// Changes an object in place; `f` returns false to leave it as it is
    /// (no new resourceVersion, no event). `expect_rv` is an optimistic
    /// concurrency check (409 on mismatch).
    pub fn update(
        &self,
        plural: &'static str,
        ns: &str,
        name: &str,
        expect_rv: Option<&str>,
        f: impl FnOnce(&mut Value) -> bool,
    ) -> Result<Value, StoreError> {
        let mut inner = lock(&self.inner);
        let key = (plural, ns.to_owned(), name.to_owned());
        let Some(current) = inner.objects.get(&key) else {
            return Err(StoreError::NotFound);
        };
        if let Some(rv) = expect_rv
            && !rv.is_empty()
            && meta_str(current, "resourceVersion") != rv
        {
            return Err(StoreError::Conflict);
        }
        let prev = current.clone();
        let mut obj = current.clone();
        let old_spec = obj.get("spec").cloned();
        if !f(&mut obj) {
            return Ok(obj);
        }
        inner.rv += 1;
        if obj.get("spec").cloned() != old_spec {
            let g = obj["metadata"]["generation"].as_u64().unwrap_or(1);
            obj["metadata"]["generation"] = json!(g + 1);
        }
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        inner.objects.insert(key, obj.clone());
        self.record(
            &mut inner,
            plural,
            EventType::Modified,
            obj.clone(),
            Some(prev),
        );
        Ok(obj)
    }

    /// Removes an object for good.
    pub fn remove(&self, plural: &'static str, ns: &str, name: &str) -> Result<Value, StoreError> {
        let mut inner = lock(&self.inner);
        let key = (plural, ns.to_owned(), name.to_owned());
        let Some(mut obj) = inner.objects.remove(&key) else {
            return Err(StoreError::NotFound);
        };
        inner.rv += 1;
        obj["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        self.record(&mut inner, plural, EventType::Deleted, obj.clone(), None);
        Ok(obj)
    }

    /// The current objects of `plural` and a live feed of every change
    /// after them (the start of a watch from "now").
    pub fn subscribe_with_state(
        &self,
        plural: &'static str,
        ns: Option<&str>,
    ) -> Option<(Subscription, Vec<Value>, u64)> {
        let inner = lock(&self.inner);
        let rx = self.tx.subscribe();
        let items = inner.objects_of(plural, ns);
        Some((
            Subscription {
                backlog: Vec::new(),
                rx,
            },
            items,
            inner.rv,
        ))
    }

    /// A live feed of changes after `since`, or None when `since` is older
    /// than the kept history (410 Gone).
    pub fn subscribe(&self, since: Option<u64>) -> Option<Subscription> {
        let inner = lock(&self.inner);
        let rx = self.tx.subscribe();
        let backlog = match since {
            None => Vec::new(),
            Some(rv) if rv < inner.compacted => return None,
            Some(rv) => inner
                .history
                .iter()
                .filter(|e| e.rv > rv)
                .cloned()
                .collect(),
        };
        Some(Subscription { backlog, rx })
    }
}

/// `n` random characters from [a-z0-9] minus vowels, like Kubernetes'
/// generated names.
pub fn rand_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}
