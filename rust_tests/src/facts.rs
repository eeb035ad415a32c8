//! The contract facts shared with the Python suite (contract/facts.json).

use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    pub rate_limit_per_minute: u32,
    pub default_page_size: u64,
    pub max_page_size: u64,
    pub roles: Vec<String>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub expected: HashMap<String, u16>,
}

impl Route {
    /// The path with its `{param}` replaced by `id`.
    pub fn with_id(&self, id: &str) -> String {
        match (self.path.find('{'), self.path.find('}')) {
            (Some(start), Some(end)) => {
                format!("{}{}{}", &self.path[..start], id, &self.path[end + 1..])
            }
            _ => self.path.clone(),
        }
    }

    pub fn has_id(&self) -> bool {
        self.path.contains('{')
    }
}

pub fn load() -> Facts {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../contract/facts.json");
    let text = std::fs::read_to_string(path).expect("contract/facts.json is readable");
    serde_json::from_str(&text).expect("contract/facts.json matches its model")
}
