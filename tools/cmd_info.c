/* Placeholder for `milkit info` until its module lands. */
#include "cli.h"

int mk_cmd_info(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("info", "not available in this build");
}
