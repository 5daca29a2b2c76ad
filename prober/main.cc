#include "prober/program.h"

int main(int argc, char** argv) { return dropspot::prober::run_prober(argc, argv); }
