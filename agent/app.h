#pragma once
// The agent program: command line in, exit code out. main.cc only calls this.
namespace dropspot::agent {

int run_agent(int argc, char** argv);

}  // namespace dropspot::agent
