/* Placeholder for `milkit verify` until its module lands. */
#include "cli.h"

int mk_cmd_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("verify", "not available in this build");
}
