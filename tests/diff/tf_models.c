/* Runs scripts/export_transformers.py once per test process (its own stamp file makes a rerun
 * over an up-to-date directory cheap). */
#include <stdio.h>
#include <unistd.h>

#include "test.h"
#include "tf_models.h"

const char *mk_test_tf_models(const char **python, char *why, size_t why_cap)
{
    static int done;
    static char py[64], dir[1024], err[256];
    char out[8192];
    if (!done) {
        done = 1;
        static const char *const pys[] = {"python3", "/usr/bin/python3"};
        for (size_t i = 0; i < sizeof pys / sizeof *pys && !py[0]; i++)
            if (mk_test_sh(out, sizeof out, "%s -c 'import torch, torchvision, torchaudio' 2>&1",
                           pys[i]) == 0)
                snprintf(py, sizeof py, "%s", pys[i]);
        if (!py[0]) {
            snprintf(err, sizeof err,
                     "no python3 imports torch, torchvision and torchaudio "
                     "(apt: python3-torch python3-torchvision python3-torchaudio)");
        } else {
            if (access("tests/.cache", W_OK) == 0)
                snprintf(dir, sizeof dir, "tests/.cache/transformers");
            else
                snprintf(dir, sizeof dir, "%s/transformers", mk_test_tmpdir());
            if (mk_test_sh(out, sizeof out, "%s scripts/export_transformers.py %s 2>&1", py, dir) !=
                0) {
                snprintf(err, sizeof err, "scripts/export_transformers.py failed: %.200s", out);
                dir[0] = 0;
            }
        }
    }
    if (python) *python = py;
    if (!dir[0]) snprintf(why, why_cap, "%s", err);
    return dir[0] ? dir : NULL;
}
