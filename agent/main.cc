#include "agent/app.h"

int main(int argc, char** argv) { return dropspot::agent::run_agent(argc, argv); }
