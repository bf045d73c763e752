//! The functions the backend imports from module `pglite`
//! (`assets/include/pglite/host.h`): the embedded client connection.
//!
//! The host queues frontend bytes in [`HostIo::input`]; the backend pulls
//! them with `read` and pushes its replies with `write`, which collects them
//! in [`HostIo::output`]. `input_pending` tells the backend whether to keep
//! reading or to return to the host. While a [`Peer`] is attached, the
//! backend's output goes straight to it, and a read that finds nothing
//! queued in the middle of a command (COPY FROM STDIN) asks it for more.

use wasmer::{Function, FunctionEnv, FunctionEnvMut, Imports, Memory, Store};

use crate::session::Peer;

/// The connection state shared between the host and the backend's imports.
#[derive(Default)]
pub(crate) struct HostIo {
    /// Set once the instance exists (imports are created before it).
    pub memory: Option<Memory>,
    pub input: Vec<u8>,
    pub input_pos: usize,
    pub output: Vec<u8>,
    /// The peer of the call in progress, if it streams (see [`PeerSlot`]).
    pub peer: Option<PeerSlot>,
    /// Reused buffer for output handed to a peer.
    scratch: Vec<u8>,
}

/// A borrowed [`Peer`], reachable from the imports during one call into the
/// backend. Wasmer wants the environment `'static + Send`; the pointer only
/// lives inside [`crate::BackendSession::send_with`], which sets it before
/// the call, clears it after, and runs the call on its own thread.
pub(crate) struct PeerSlot(*mut (dyn Peer + 'static));

// SAFETY: the slot is used only on the thread that created it, within the
// borrow it was made from (see `BackendSession::send_with`).
unsafe impl Send for PeerSlot {}

impl PeerSlot {
    /// # Safety
    /// The slot must be dropped before `peer`'s borrow ends, and used only
    /// on the current thread.
    pub unsafe fn new(peer: &mut dyn Peer) -> Self {
        // SAFETY: only the lifetime is erased; see the function's contract.
        let ptr: *mut (dyn Peer + '_) = peer;
        Self(unsafe { std::mem::transmute::<*mut (dyn Peer + '_), *mut (dyn Peer + 'static)>(ptr) })
    }

    fn get(&mut self) -> &mut dyn Peer {
        // SAFETY: valid while the slot exists (contract of `new`).
        unsafe { &mut *self.0 }
    }
}

impl HostIo {
    pub fn queue(&mut self, bytes: &[u8]) {
        if self.input_pos == self.input.len() {
            self.input.clear();
            self.input_pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    fn pending(&self) -> usize {
        self.input.len() - self.input_pos
    }
}

/// Adds the `pglite` imports bound to `env` to `imports`.
pub(crate) fn define_imports(store: &mut Store, env: &FunctionEnv<HostIo>, imports: &mut Imports) {
    imports.define(
        "pglite",
        "read",
        Function::new_typed_with_env(store, env, read),
    );
    imports.define(
        "pglite",
        "write",
        Function::new_typed_with_env(store, env, write),
    );
    imports.define(
        "pglite",
        "input_pending",
        Function::new_typed_with_env(store, env, input_pending),
    );
}

fn read(mut env: FunctionEnvMut<HostIo>, ptr: u32, len: i32) -> i32 {
    let (io, store) = env.data_and_store_mut();
    let Some(memory) = io.memory.as_ref() else {
        return -1;
    };
    if io.pending() == 0 {
        if let Some(peer) = io.peer.as_mut() {
            io.input.clear();
            io.input_pos = 0;
            if let Err(err) = peer.get().read_more(&mut io.input) {
                tracing::debug!(%err, "the peer has no more input");
                return -1;
            }
        }
    }
    let count = io.pending().min(len.max(0) as usize);
    let bytes = &io.input[io.input_pos..io.input_pos + count];
    if memory.view(&store).write(u64::from(ptr), bytes).is_err() {
        return -1;
    }
    io.input_pos += count;
    count as i32
}

fn write(mut env: FunctionEnvMut<HostIo>, ptr: u32, len: i32) -> i32 {
    let (io, store) = env.data_and_store_mut();
    let Some(memory) = io.memory.as_ref() else {
        return -1;
    };
    let len = len.max(0) as usize;
    if let Some(peer) = io.peer.as_mut() {
        io.scratch.resize(len, 0);
        if memory
            .view(&store)
            .read(u64::from(ptr), &mut io.scratch)
            .is_err()
        {
            return -1;
        }
        return match peer.get().write(&io.scratch) {
            Ok(()) => len as i32,
            Err(err) => {
                tracing::debug!(%err, "the peer refused output");
                -1
            }
        };
    }
    let start = io.output.len();
    io.output.resize(start + len, 0);
    if memory
        .view(&store)
        .read(u64::from(ptr), &mut io.output[start..])
        .is_err()
    {
        io.output.truncate(start);
        return -1;
    }
    len as i32
}

fn input_pending(env: FunctionEnvMut<HostIo>) -> i32 {
    env.data().pending().min(i32::MAX as usize) as i32
}
