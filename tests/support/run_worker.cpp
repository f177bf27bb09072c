// A worker program for the launcher's tests: `tensorpar run ... -- run_worker MODE [ARGS]`.
//
//   print-env               prints its rank variables and exits 0
//   exit CODE RANK          rank RANK exits with CODE at once; the others sleep 60 s
//   kill-self RANK          rank RANK kills itself with SIGKILL; the others sleep 60 s
//   ignore-term RANK        rank RANK exits 5; the others ignore SIGTERM and sleep 60 s
//   sleep SECONDS           sleeps, then exits 0
//   partial-line            writes "no newline" without a trailing '\n'
//   rendezvous              meets every rank at the job's store, prints "met W ranks"
//   wait-store              meets every rank, then waits on a key nobody sets: it exits 3 with
//                           the store's error when the store goes away
//   malformed               sends the store a malformed frame, then meets every rank normally
//   stuck-collective RANK MS  joins a gloo job with a collective timeout of MS ms and
//                           all_reduces once; rank RANK never calls it and sleeps 60 s, so the
//                           others fail with the timeout (exit 3, naming the collective and rank)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "core/comm/process_world.h"
#include "core/comm/tcp_store.h"
#include "core/tensor/tensor.h"
#ifdef TENSORPAR_HAVE_GLOO
#include "gloo/gloo_backend.h"
#endif

namespace {

using namespace std::chrono_literals;
using tensorpar::ProcessEnv;

void sleep_seconds(int s) { std::this_thread::sleep_for(std::chrono::seconds(s)); }

std::shared_ptr<tensorpar::TCPStore> meet(const ProcessEnv& env) {
  auto store = tensorpar::connect_job_store(env, /*host=*/!env.store_hosted && env.rank == 0, 10s);
  tensorpar::rendezvous(*store, env, 10s);
  return store;
}

void send_garbage(const ProcessEnv& env) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(env.master_port);
  ::inet_pton(AF_INET, env.master_addr.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const unsigned char garbage[] = {0xff, 0xff, 0xff, 0x7f, 1, 2, 3};
    (void)!::send(fd, garbage, sizeof garbage, MSG_NOSIGNAL);
    char c;
    const bool closed = ::recv(fd, &c, 1, 0) <= 0;
    std::cout << (closed ? "the store dropped the malformed frame" : "not dropped") << std::endl;
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const auto arg = [&](int i) { return argc > i ? std::atoi(argv[i]) : 0; };
  try {
    const ProcessEnv env = tensorpar::read_process_env();
    if (mode == "print-env") {
      std::cout << "rank=" << env.rank << " world=" << env.world_size
                << " local=" << env.local_rank << " local_world=" << env.local_world_size
                << " group=" << env.group_rank << " addr=" << env.master_addr
                << " port=" << env.master_port << " hosted=" << env.store_hosted
                << " token=" << (std::getenv("TENSORPAR_STORE_TOKEN") ? "set" : "unset")
                << std::endl;
      std::cerr << "stderr of rank " << env.rank << std::endl;
      return 0;
    }
    if (mode == "exit") {
      if (env.rank == arg(3)) return arg(2);
      sleep_seconds(60);
      return 0;
    }
    if (mode == "kill-self") {
      if (env.rank == arg(2)) {
        std::cout << "killing myself" << std::endl;
        ::raise(SIGKILL);
      }
      sleep_seconds(60);
      return 0;
    }
    if (mode == "ignore-term") {
      if (env.rank == arg(2)) {
        std::this_thread::sleep_for(200ms);  // let the others install their handler
        return 5;
      }
      ::signal(SIGTERM, SIG_IGN);
      sleep_seconds(60);
      return 0;
    }
    if (mode == "sleep") {
      sleep_seconds(arg(2));
      return 0;
    }
    if (mode == "partial-line") {
      std::cout << "no newline" << std::flush;
      return 0;
    }
    if (mode == "rendezvous") {
      auto store = meet(env);
      std::cout << "met " << env.world_size << " ranks" << std::endl;
      // The hosting rank (torchrun-style) stays until every rank is done with its store.
      if (store->add("done", 1) == env.world_size) store->set("all_done", "1");
      store->wait({"all_done"});
      return 0;
    }
    if (mode == "wait-store") {
      auto store = meet(env);
      std::cout << "waiting" << std::endl;
      store->wait({"never"}, 60s);
      return 0;
    }
    if (mode == "malformed") {
      send_garbage(env);
      meet(env);
      std::cout << "met " << env.world_size << " ranks" << std::endl;
      return 0;
    }
    if (mode == "stuck-collective") {
#ifdef TENSORPAR_HAVE_GLOO
      tensorpar::gloo::register_gloo_backend();
      const auto timeout = std::chrono::milliseconds(arg(3));
      tensorpar::ProcessWorld job("gloo", {.store_timeout = 10s, .collective_timeout = timeout});
      if (env.rank == arg(2)) {
        std::cout << "rank " << env.rank << " skips the all_reduce" << std::endl;
        sleep_seconds(60);
        return 0;
      }
      tensorpar::Tensor t = tensorpar::ones({4});
      job.world()->all_reduce(t)->wait();
      std::cout << "all_reduce returned" << std::endl;
      return 0;
#else
      std::cerr << "run_worker: built without gloo" << std::endl;
      return 2;
#endif
    }
    std::cerr << "run_worker: unknown mode '" << mode << "'" << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "run_worker: " << e.what() << std::endl;
    return 3;
  }
}
