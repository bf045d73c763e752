//! Cancelling a running statement from another thread.
//!
//! A server's postmaster cancels a statement by sending its backend SIGINT.
//! Here the backend runs inside a call on some thread, so the host instead
//! sets a flag in the backend's linear memory (`pglite_cancel_requested`,
//! assets/port/timer.c); the backend's interrupt checks and waits look at it
//! and raise SIGINT themselves, and PostgreSQL's own handler ends the
//! statement with SQLSTATE 57014.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::instance::BackendInstance;
use crate::{Error, Result};

/// Cancels whatever statement the session is running; clonable, `Send` and
/// `Sync`. Once the session has ended it does nothing.
#[derive(Clone, Debug)]
pub struct CancelHandle {
    flag: Arc<Mutex<Option<FlagPtr>>>,
}

/// The flag's address in the host's address space.
#[derive(Debug)]
struct FlagPtr(*const AtomicI32);

// SAFETY: the pointer is only dereferenced under the handle's mutex, and is
// removed (under the same mutex) before the memory it points into is freed.
unsafe impl Send for FlagPtr {}

impl CancelHandle {
    /// Finds the flag in a started backend.
    pub(crate) fn locate(backend: &mut BackendInstance) -> Result<Self> {
        let offset = backend
            .export("pglite_cancel_flag")?
            .typed::<(), i32>(&backend.store)
            .map_err(|e| Error::Module(e.to_string()))?
            .call(&mut backend.store)
            .map_err(|e| Error::Module(format!("pglite_cancel_flag: {e}")))?;
        let view = backend.memory.view(&backend.store);
        let offset = usize::try_from(offset)
            .ok()
            .filter(|offset| offset % 4 == 0 && offset + 4 <= view.data_size() as usize)
            .ok_or_else(|| Error::Module(format!("cancel flag at invalid address {offset}")))?;
        // Wasmer's tunables give every linear memory the static style: it is
        // reserved at its maximum size up front and never moves when it
        // grows, so this address stays valid for the instance's lifetime.
        let ptr = view.data_ptr().wrapping_add(offset) as *const AtomicI32;
        Ok(Self {
            flag: Arc::new(Mutex::new(Some(FlagPtr(ptr)))),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Option<FlagPtr>> {
        self.flag.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the backend to cancel the statement it is running (if any: a
    /// request that arrives while it is idle stays pending until
    /// [`clear`](Self::clear)). Returns false once the session has ended.
    pub fn cancel(&self) -> bool {
        match &*self.lock() {
            // SAFETY: see `locate` and `FlagPtr`; the backend reads the flag
            // with plain loads of an aligned 32-bit word, which an atomic
            // store from this thread never tears.
            Some(FlagPtr(ptr)) => {
                unsafe { &**ptr }.store(1, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Withdraws a pending request, so that it cannot cancel a later
    /// statement than the one it was meant for.
    pub fn clear(&self) {
        if let Some(FlagPtr(ptr)) = &*self.lock() {
            // SAFETY: as in `cancel`.
            unsafe { &**ptr }.store(0, Ordering::SeqCst);
        }
    }

    /// Called before the backend's memory is freed.
    pub(crate) fn disarm(&self) {
        *self.lock() = None;
    }
}
