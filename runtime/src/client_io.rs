//! The functions a program of the build (pg_dump, pg_restore) imports from
//! module `pglite_client` (`assets/include/pglite/client.h`): its libpq
//! connections. WASI has no sockets; the host opens each connection with a
//! [`ClientConnector`] and moves its bytes through a [`ClientStream`].

use std::collections::HashMap;
use std::time::Duration;

use wasmer::{Function, FunctionEnv, FunctionEnvMut, Imports, Memory, Store};

/// One client connection of a program: a byte stream to a server that
/// speaks the frontend/backend protocol.
pub trait ClientStream: Send {
    /// Sends all of `bytes`, waiting while the other side is behind.
    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()>;

    /// Copies bytes that have arrived into `buf` without waiting:
    /// `Some(0)` once the server has closed the connection, `None` when
    /// nothing has arrived yet.
    fn try_recv(&mut self, buf: &mut [u8]) -> std::io::Result<Option<usize>>;

    /// Waits until bytes have arrived or the connection has ended, for at
    /// most `timeout` (`None`: without limit). False when the time ran out.
    fn wait_readable(&mut self, timeout: Option<Duration>) -> std::io::Result<bool>;
}

/// Opens the connections a program asks for (libpq's `PQconnectdb`).
pub trait ClientConnector: Send {
    fn connect(&mut self) -> std::io::Result<Box<dyn ClientStream>>;
}

/// The imports' state: the program's open connections by handle.
pub(crate) struct ClientIo {
    /// Set once the instance exists (imports are created before it).
    pub memory: Option<Memory>,
    connector: Box<dyn ClientConnector>,
    streams: HashMap<i32, Box<dyn ClientStream>>,
    next_handle: i32,
    /// Reused buffer between the guest's memory and a stream.
    scratch: Vec<u8>,
}

impl ClientIo {
    pub fn new(connector: Box<dyn ClientConnector>) -> Self {
        Self {
            memory: None,
            connector,
            streams: HashMap::new(),
            next_handle: 0,
            scratch: Vec::new(),
        }
    }
}

/// Adds the `pglite_client` imports bound to `env` to `imports`.
pub(crate) fn define_client_imports(
    store: &mut Store,
    env: &FunctionEnv<ClientIo>,
    imports: &mut Imports,
) {
    let module = "pglite_client";
    imports.define(
        module,
        "open",
        Function::new_typed_with_env(store, env, open),
    );
    imports.define(
        module,
        "recv",
        Function::new_typed_with_env(store, env, recv),
    );
    imports.define(
        module,
        "send",
        Function::new_typed_with_env(store, env, send),
    );
    imports.define(
        module,
        "wait_readable",
        Function::new_typed_with_env(store, env, wait_readable),
    );
    imports.define(
        module,
        "close",
        Function::new_typed_with_env(store, env, close),
    );
}

fn open(mut env: FunctionEnvMut<ClientIo>) -> i32 {
    let io = env.data_mut();
    match io.connector.connect() {
        Ok(stream) => {
            let handle = io.next_handle;
            io.next_handle = io.next_handle.wrapping_add(1).max(0);
            io.streams.insert(handle, stream);
            handle
        }
        Err(err) => {
            tracing::debug!(%err, "a program's connection was refused");
            -1
        }
    }
}

fn recv(mut env: FunctionEnvMut<ClientIo>, handle: i32, ptr: u32, len: i32) -> i32 {
    let (io, store) = env.data_and_store_mut();
    let (Some(memory), Some(stream)) = (io.memory.as_ref(), io.streams.get_mut(&handle)) else {
        return 0;
    };
    io.scratch.resize(len.max(0) as usize, 0);
    match stream.try_recv(&mut io.scratch) {
        Ok(Some(count)) => {
            if memory
                .view(&store)
                .write(u64::from(ptr), &io.scratch[..count])
                .is_err()
            {
                return 0;
            }
            count as i32
        }
        Ok(None) => -1,
        Err(err) => {
            tracing::debug!(%err, "a program's connection failed");
            0
        }
    }
}

fn send(mut env: FunctionEnvMut<ClientIo>, handle: i32, ptr: u32, len: i32) -> i32 {
    let (io, store) = env.data_and_store_mut();
    let (Some(memory), Some(stream)) = (io.memory.as_ref(), io.streams.get_mut(&handle)) else {
        return -1;
    };
    io.scratch.resize(len.max(0) as usize, 0);
    if memory
        .view(&store)
        .read(u64::from(ptr), &mut io.scratch)
        .is_err()
    {
        return -1;
    }
    match stream.send(&io.scratch) {
        Ok(()) => len,
        Err(err) => {
            tracing::debug!(%err, "a program's connection is closed");
            -1
        }
    }
}

fn wait_readable(mut env: FunctionEnvMut<ClientIo>, handle: i32, timeout_ms: i32) -> i32 {
    let Some(stream) = env.data_mut().streams.get_mut(&handle) else {
        return -1;
    };
    let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
    match stream.wait_readable(timeout) {
        Ok(ready) => i32::from(ready),
        // A failed connection is readable: the read that follows ends it.
        Err(err) => {
            tracing::debug!(%err, "a program's connection failed");
            1
        }
    }
}

fn close(mut env: FunctionEnvMut<ClientIo>, handle: i32) {
    env.data_mut().streams.remove(&handle);
}
