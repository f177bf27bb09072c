#pragma once
// Write errors on standard output. A report written to a full device or a closed pipe must not
// end in exit code 0: main flushes stdout after every command and fails when any write to it
// failed, whether through std::cout, stdio, or write(2) as the launcher's relay does.
//
//   tensorpar train --json > /dev/full   ->  stderr: "tensorpar train: cannot write to standard
//                                            output: No space left on device", exit 1
#include <optional>
#include <string>

namespace tensorpar::cli {

// Records that a write(2) to standard output failed with `error` (an errno value).
void note_stdout_write_error(int error);

// Flushes std::cout and stdout; the reason when that or any earlier write to standard output
// failed, nothing when all of it reached its destination.
std::optional<std::string> stdout_write_error();

}  // namespace tensorpar::cli
