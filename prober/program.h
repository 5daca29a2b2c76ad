#pragma once
// The prober program: command line in, exit code out. main.cc only calls this.
namespace dropspot::prober {

int run_prober(int argc, char** argv);

}  // namespace dropspot::prober
