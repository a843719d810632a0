/* Placeholder for `milkit graph` until its module lands. */
#include "cli.h"

int mk_cmd_graph(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("graph", "not available in this build");
}
