// onnxruntime-node driver for milkit's differential tests and bench/run: reads inputs from
// .npy / .npz files, runs an ONNX model, writes every output as <outdir>/<prefix><name>.npy and
// prints timing and peak RSS. Streaming mode (--steps N) runs N steps, feeding outputs back as
// inputs (--feed out=in) and reading per-step inputs from printf-style paths (name=dir/x_%d.npy).
// Usage: node ort_run.js MODEL OUTDIR [name=x.npy | in.npz | name=i64:V]... [--threads N] [--repeat N]
//                        [--steps N --feed out=in ...]
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

function findOrt() {
    const dirs = [process.env.ORT_NODE_DIR, path.join(__dirname, '..', '.cache', 'node', 'node_modules')];
    for (const d of dirs) {
        if (!d) continue;
        try {
            return require(path.join(d, 'onnxruntime-node'));
        } catch (e) { /* try the next */ }
    }
    return require('onnxruntime-node');
}

const DT = {
    '<f4': ['float32', Float32Array, 4], '<f8': ['float64', Float64Array, 8],
    '<i4': ['int32', Int32Array, 4], '<i8': ['int64', BigInt64Array, 8],
    '|i1': ['int8', Int8Array, 1], '|u1': ['uint8', Uint8Array, 1], '|b1': ['bool', Uint8Array, 1],
    '<f2': ['float16', Uint16Array, 2],
};

function parseNpy(buf, label) {
    if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(label + ': not a .npy file');
    const major = buf[6];
    const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
    const hoff = major === 1 ? 10 : 12;
    const h = buf.toString('latin1', hoff, hoff + hlen);
    const descr = /'descr':\s*'([^']+)'/.exec(h)[1];
    const shape = /'shape':\s*\(([^)]*)\)/.exec(h)[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
    if (!DT[descr]) throw new Error(label + ': unsupported dtype ' + descr);
    const [type, Arr, size] = DT[descr];
    const n = shape.reduce((a, b) => a * b, 1);
    const start = hoff + hlen;
    const bytes = Buffer.from(buf.subarray(start, start + n * size)); // aligned copy
    let data = new Arr(bytes.buffer, bytes.byteOffset, n);
    if (type === 'bool') data = Uint8Array.from(data, v => (v ? 1 : 0));
    return { type, dims: shape, data };
}

function writeNpy(file, t) {
    const map = { float32: '<f4', float64: '<f8', int32: '<i4', int64: '<i8', int8: '|i1', uint8: '|u1', bool: '|b1', float16: '<f2' };
    const descr = map[t.type];
    if (!descr) throw new Error('cannot write ' + t.type);
    const shape = t.dims.length === 1 ? '(' + t.dims[0] + ',)' : '(' + t.dims.join(', ') + ')';
    let h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ', }';
    const pad = (64 - ((10 + h.length + 1) % 64)) % 64;
    h += ' '.repeat(pad) + '\n';
    const pre = Buffer.alloc(10);
    pre.write('\x93NUMPY', 0, 'latin1');
    pre[6] = 1;
    pre.writeUInt16LE(h.length, 8);
    let data = t.data;
    if (t.type === 'bool') data = Uint8Array.from(data, v => (v ? 1 : 0));
    fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(h, 'latin1'),
        Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

// Minimal zip reader: central directory, stored (0) or deflated (8) members.
function readNpz(file) {
    const b = fs.readFileSync(file);
    let eocd = -1;
    for (let i = b.length - 22; i >= Math.max(0, b.length - 65557); i--) {
        if (b.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
    }
    if (eocd < 0) throw new Error(file + ': not a zip archive');
    const count = b.readUInt16LE(eocd + 10);
    let off = b.readUInt32LE(eocd + 16);
    const out = {};
    for (let k = 0; k < count; k++) {
        const method = b.readUInt16LE(off + 10), csize = b.readUInt32LE(off + 20);
        const nlen = b.readUInt16LE(off + 28), xlen = b.readUInt16LE(off + 30), clen = b.readUInt16LE(off + 32);
        const local = b.readUInt32LE(off + 42);
        const name = b.toString('utf8', off + 46, off + 46 + nlen);
        const lnl = b.readUInt16LE(local + 26), lxl = b.readUInt16LE(local + 28);
        const raw = b.subarray(local + 30 + lnl + lxl, local + 30 + lnl + lxl + csize);
        const data = method === 0 ? raw : zlib.inflateRawSync(raw);
        out[name.replace(/\.npy$/, '')] = parseNpy(data, file + ':' + name);
        off += 46 + nlen + xlen + clen;
    }
    return out;
}

function loadSpec(spec, into) {
    const eq = spec.indexOf('=');
    const lit = /^([^=]+)=(i64|i32|f32):(.*)$/.exec(spec); // a scalar literal, e.g. sr=i64:16000
    if (lit) {
        const [, name, ty, v] = lit;
        if (ty === 'i64') into[name] = { type: 'int64', dims: [], data: BigInt64Array.from([BigInt(v)]) };
        else if (ty === 'i32') into[name] = { type: 'int32', dims: [], data: Int32Array.from([Number(v)]) };
        else into[name] = { type: 'float32', dims: [], data: Float32Array.from([Number(v)]) };
        return;
    }
    if (spec.endsWith('.npz')) Object.assign(into, readNpz(spec));
    else if (eq > 0) into[spec.slice(0, eq)] = parseNpy(fs.readFileSync(spec.slice(eq + 1)), spec.slice(eq + 1));
    else into[path.basename(spec, '.npy')] = parseNpy(fs.readFileSync(spec), spec);
}

function toOrt(ort, t) {
    if (t.type === 'float16') throw new Error('float16 inputs are not supported by this driver');
    return new ort.Tensor(t.type, t.data, t.dims);
}

async function main() {
    const args = process.argv.slice(2);
    if (args.length < 2) {
        console.error('usage: node ort_run.js MODEL OUTDIR [name=x.npy | in.npz]... [--threads N] [--repeat N] [--steps N --feed out=in]');
        process.exit(2);
    }
    const [model, outdir] = args;
    let threads = 1, repeat = 0, steps = 0;
    const specs = [], feeds = [];
    for (let i = 2; i < args.length; i++) {
        if (args[i] === '--threads') threads = Number(args[++i]);
        else if (args[i] === '--repeat') repeat = Number(args[++i]);
        else if (args[i] === '--steps') steps = Number(args[++i]);
        else if (args[i] === '--feed') feeds.push(args[++i].split('='));
        else specs.push(args[i]);
    }
    const ort = findOrt();
    const sess = await ort.InferenceSession.create(model, {
        intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
        graphOptimizationLevel: 'all',
    });
    fs.mkdirSync(outdir, { recursive: true });
    const fixed = {};
    const perStep = [];
    for (const s of specs) {
        if (s.includes('%d')) perStep.push(s);
        else loadSpec(s, fixed);
    }
    // milkit saves inputs under its sanitised names ("state" -> "state_workaround")
    const clean = n => (/^[A-Za-z_]/.test(n) ? (n[0] === '_' ? 'var' : '') : 'var_') + n.replace(/[^A-Za-z0-9_]/g, '_');
    const onnxName = k => {
        if (sess.inputNames.includes(k)) return k;
        return sess.inputNames.find(n => clean(n) === k || clean(n) + '_workaround' === k) || k;
    };
    const feedsObj = {};
    for (const k of Object.keys(fixed)) feedsObj[onnxName(k)] = toOrt(ort, fixed[k]);
    const save = (res, prefix) => {
        for (const name of sess.outputNames) {
            const t = res[name];
            writeNpy(path.join(outdir, prefix + name + '.npy'), { type: t.type, dims: t.dims, data: t.data });
        }
    };
    if (steps > 0) {
        for (let t = 0; t < steps; t++) {
            for (const s of perStep) {
                const one = {};
                loadSpec(s.replace('%d', String(t)), one);
                for (const k of Object.keys(one)) feedsObj[onnxName(k)] = toOrt(ort, one[k]);
            }
            const res = await sess.run(feedsObj);
            save(res, t + '_');
            for (const [o, inp] of feeds) feedsObj[inp] = res[o];
        }
    } else {
        const t0 = process.hrtime.bigint();
        const res = await sess.run(feedsObj);
        const first = Number(process.hrtime.bigint() - t0) / 1e6;
        save(res, '');
        const times = [];
        for (let r = 0; r < repeat; r++) {
            const s = process.hrtime.bigint();
            await sess.run(feedsObj);
            times.push(Number(process.hrtime.bigint() - s) / 1e6);
        }
        times.sort((a, b) => a - b);
        console.log('time_ms: ' + first.toFixed(3));
        if (repeat > 0) {
            const m = repeat % 2 ? times[(repeat - 1) / 2] : (times[repeat / 2 - 1] + times[repeat / 2]) / 2;
            console.log('median_ms: ' + m.toFixed(3));
        }
    }
    console.log('peak_rss_kb: ' + Math.round(process.resourceUsage().maxRSS));
}

main().catch(e => {
    console.error('ort_run: ' + (e && e.message ? e.message : e));
    process.exit(2);
});
