/* Deployment targets: names <-> Core ML specification versions (iOS15..iOS18 = 6..9).
 * Pure lookups; the writer and reader decide what a target allows. */
#include <strings.h>

#include "milkit.h"

mk_target mk_target_parse(const char *s)
{
    static const struct {
        const char *name;
        mk_target t;
    } names[] = {{"ios15", MK_TARGET_IOS15},
                 {"ios16", MK_TARGET_IOS16},
                 {"ios17", MK_TARGET_IOS17},
                 {"ios18", MK_TARGET_IOS18}};
    for (size_t i = 0; s && i < sizeof names / sizeof *names; i++)
        if (strcasecmp(s, names[i].name) == 0) return names[i].t;
    return MK_TARGET_DEFAULT;
}

const char *mk_target_name(mk_target t)
{
    switch (t) {
    case MK_TARGET_IOS15: return "iOS15";
    case MK_TARGET_IOS16: return "iOS16";
    case MK_TARGET_IOS17: return "iOS17";
    case MK_TARGET_IOS18: return "iOS18";
    case MK_TARGET_DEFAULT: return "default";
    }
    return "unknown";
}
