/* Example C program for the installed library: load a model (.onnx, .mlpackage or .mlmodel),
 * run it on seeded random inputs and print each output's name, shape and first value, like
 * `milkit run MODEL`. Build: cc run_model.c $(pkg-config --cflags --libs milkit) */
#include <milkit.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    mk_err err = {0};
    mk_program *p = NULL;
    mk_tensor_list in = {0}, out = {0};
    mk_run_options opts = {0, 1, 0};
    int rc = 2;
    if (mk_model_load(argv[1], NULL, NULL, &p, &err) || mk_random_inputs(p, 0, &in, &err) ||
        mk_run(p, &opts, &in, &out, &err)) {
        fprintf(stderr, "run_model: %s\n", err.msg);
        goto done;
    }
    for (int i = 0; i < out.n; i++) {
        const mk_tensor *t = &out.items[i];
        printf("%s: [", t->name);
        for (int d = 0; d < t->rank; d++) printf("%s%lld", d ? ", " : "", (long long)t->dims[d]);
        printf("]");
        if (t->dtype == 11 && t->nbytes >= sizeof(float)) printf(" first: %g", *(float *)t->data);
        printf("\n");
    }
    rc = 0;
done:
    mk_tensor_list_free(&in);
    mk_tensor_list_free(&out);
    mk_program_free(p);
    return rc;
}
