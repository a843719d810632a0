/* Placeholder for `milkit convert` until its module lands. */
#include "cli.h"

int mk_cmd_convert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_fail("convert", "not available in this build");
}
