#pragma once
// Registers the gloo backend with core's backend registry (core/comm/backend_registry.h), so that
// ProcessWorld("gloo") and `tensorpar train --backend gloo` build a GlooCommunicator world.
//
// Where the transport binds, as PyTorch's gloo backend decides it: GLOO_SOCKET_IFNAME names an
// interface ("eth0") when set; otherwise a job whose MASTER_ADDR is a loopback address
// (127.x.x.x, localhost) binds 127.0.0.1, and any other job binds this machine's host name.
namespace tensorpar::gloo {

// Idempotent and thread-safe; call once per process before ProcessWorld.
void register_gloo_backend();

}  // namespace tensorpar::gloo
