/* Placeholder for `milkit dump` until its module lands. */
#include "cli.h"

int mk_cmd_dump(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("dump", "not available in this build");
}
