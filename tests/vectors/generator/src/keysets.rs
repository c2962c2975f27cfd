use crate::common::{G, file as vfile};
use serde_json::Value;

pub fn file(_g: &G) -> Value {
    vfile("todo", vec![])
}
