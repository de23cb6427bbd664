//! Interned strings for function and file names: a frame carries two pointers that are copied,
//! compared and dropped for free, where `Arc<str>` cost an atomic increment per frame in the
//! sampler and a decrement in the collector (about a third of a 100-frame walk, measured with
//! `cargo bench --bench walker`). Each distinct text is stored once for the life of the process:
//! names come from code objects, whose number a profile sees is bounded by the code it runs.
use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A function or file name, interned: equal texts share one address.
#[derive(Clone, Copy)]
pub struct Name(&'static str);

fn table() -> &'static Mutex<HashSet<&'static str>> {
    static TABLE: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    TABLE.get_or_init(Default::default)
}

impl Name {
    /// The interned copy of `text` (stored on first sight).
    pub fn new(text: &str) -> Name {
        let mut table = table()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(&stored) = table.get(text) {
            return Name(stored);
        }
        let stored: &'static str = Box::leak(text.to_owned().into_boxed_str());
        table.insert(stored);
        Name(stored)
    }

    /// The text.
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// The address of the interned text: equal for equal texts.
    pub fn address(&self) -> usize {
        self.0.as_ptr() as usize
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        self.0
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name::new(text)
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name::new(&text)
    }
}

impl From<&String> for Name {
    fn from(text: &String) -> Name {
        Name::new(text)
    }
}

// Interned: the same text is the same address, so comparing addresses is comparing texts.
impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}

impl Eq for Name {}

impl std::hash::Hash for Name {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Name) -> std::cmp::Ordering {
        self.0.cmp(other.0)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Name, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Name::new(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::Name;

    #[test]
    fn equal_texts_share_one_address_and_compare_by_text() {
        let a = Name::new("Class.method");
        let b = Name::from(String::from("Class.method"));
        assert_eq!(a, b);
        assert_eq!(a.address(), b.address());
        assert_ne!(a, Name::new("other"));
        assert!(Name::new("a") < Name::new("b"));
        assert_eq!(&*a, "Class.method");
        assert_eq!(a, "Class.method");
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"Class.method\"");
        let back: Name = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
    }
}
