//! Notices (warnings and information from the server) and notifications
//! (LISTEN/NOTIFY).

use std::sync::Arc;

use crate::error::DbError;

/// A notification sent with NOTIFY to a channel this session listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub process_id: i32,
    pub channel: String,
    pub payload: String,
}

/// A callback for notices.
pub type NoticeHandler = Arc<dyn Fn(&DbError) + Send + Sync>;

/// Where notices go: a callback, or a bounded collection.
pub(crate) struct Notices {
    handler: Option<NoticeHandler>,
    collected: Vec<DbError>,
}

/// How many notices are kept when nobody takes them.
const KEPT_NOTICES: usize = 1000;

impl Notices {
    pub fn new(handler: Option<NoticeHandler>) -> Self {
        Self {
            handler,
            collected: Vec::new(),
        }
    }

    pub fn deliver(&mut self, notice: DbError) {
        match &self.handler {
            Some(handler) => handler(&notice),
            None => {
                if self.collected.len() == KEPT_NOTICES {
                    self.collected.remove(0);
                }
                self.collected.push(notice);
            }
        }
    }

    pub fn take(&mut self) -> Vec<DbError> {
        std::mem::take(&mut self.collected)
    }
}
