//! Which messages of a folder to process, as pure decisions over the checkpoint (UIDVALIDITY +
//! highest processed UID) and what the server reports. Follows chatmail core: the checkpoint
//! advances only after the messages below it are stored.

/// What to fetch from a folder this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderPlan {
    /// Never seen: process the unread messages already there (the original product's
    /// behaviour), then keep a checkpoint.
    FirstSight,
    /// Everything above `after_uid`, whatever its \Seen flag.
    After { after_uid: u32 },
    /// The server renumbered the folder (RFC 3501 §2.3.1.1): process every message again;
    /// Message-ID + content-hash de-duplication keeps this from creating second cases.
    UidValidityChanged { previous: u32 },
}

pub fn plan(checkpoint: Option<(i64, i64)>, uidvalidity: u32) -> FolderPlan {
    match checkpoint {
        None => FolderPlan::FirstSight,
        Some((v, last)) if v == i64::from(uidvalidity) => FolderPlan::After {
            after_uid: u32::try_from(last).unwrap_or(0),
        },
        Some((v, _)) => FolderPlan::UidValidityChanged {
            previous: u32::try_from(v).unwrap_or(0),
        },
    }
}

/// Compact IMAP UID sets (`1:5,7,9:12`) for sorted, de-duplicated UIDs, each set at most
/// `max_len` characters so no command line grows without bound.
pub fn uid_sets(uids: &[u32], max_len: usize) -> Vec<String> {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for uid in sorted {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == uid => *end = uid,
            _ => runs.push((uid, uid)),
        }
    }
    let mut sets = Vec::new();
    let mut current = String::new();
    for (a, b) in runs {
        let part = if a == b {
            a.to_string()
        } else {
            format!("{a}:{b}")
        };
        if !current.is_empty() && current.len() + 1 + part.len() > max_len {
            sets.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(',');
        }
        current.push_str(&part);
    }
    if !current.is_empty() {
        sets.push(current);
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_from_the_checkpoint() {
        assert_eq!(plan(None, 7), FolderPlan::FirstSight);
        assert_eq!(plan(Some((7, 42)), 7), FolderPlan::After { after_uid: 42 });
        assert_eq!(
            plan(Some((6, 42)), 7),
            FolderPlan::UidValidityChanged { previous: 6 }
        );
    }

    #[test]
    fn compacts_uid_sets() {
        assert_eq!(uid_sets(&[5, 1, 2, 3, 9, 10, 7], 100), ["1:3,5,7,9:10"]);
        assert_eq!(uid_sets(&[], 100), Vec::<String>::new());
        let many: Vec<u32> = (1..=1000).step_by(2).collect();
        let sets = uid_sets(&many, 50);
        assert!(sets.iter().all(|s| s.len() <= 50));
        let back: Vec<u32> = sets
            .iter()
            .flat_map(|s| s.split(','))
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(back, many);
    }
}
