/* Placeholder for `milkit run` until its module lands. */
#include "cli.h"

int mk_cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("run", "not available in this build");
}
