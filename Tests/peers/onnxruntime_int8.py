#!/usr/bin/env python3
# Usage: python3 Tests/peers/onnxruntime_int8.py mobilenetv2-1.0-dequantized ghostnet-1.0-random-init
# Needs `pip install onnx onnxruntime pillow` and ../shared; not part of Tests/run.
# ONNX Runtime peer numbers beside EdgeQ's int8 (README, 'What each accuracy option measured'): quantize_static (QDQ, per-channel, calibration on
# ../shared/imagenet/calib) and single-thread latency medians of float and int8.
import glob, sys, time, statistics, numpy as np, onnx, onnxruntime as ort
from PIL import Image
from onnxruntime.quantization import quantize_static, QuantFormat, QuantType, CalibrationDataReader, CalibrationMethod
from onnxruntime.quantization.shape_inference import quant_pre_process
import os
S = os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared')
OUT = os.environ.get('OUT', '/tmp/ort')
os.makedirs(OUT, exist_ok=True)
mean = np.array([0.485, 0.456, 0.406], np.float32); std = np.array([0.229, 0.224, 0.225], np.float32)
def prep(path):
    im = Image.open(path).convert('RGB')
    if im.size != (224, 224):  # shorter side 256 (bilinear, antialiased as Pillow does), centre crop 224
        w, h = im.size; s = 256 / min(w, h)
        im = im.resize((round(w * s), round(h * s)), Image.BILINEAR)
        w, h = im.size; l, t = (w - 224) // 2, (h - 224) // 2
        im = im.crop((l, t, l + 224, t + 224))
    x = (np.asarray(im, np.float32) / 255 - mean) / std
    return x.transpose(2, 0, 1)[None].astype(np.float32)
class Reader(CalibrationDataReader):
    def __init__(self): self.files = iter(sorted(glob.glob(S + '/imagenet/calib/*.JPEG')))
    def get_next(self):
        f = next(self.files, None)
        return None if f is None else {'input': prep(f)}
def session(path, threads=1):
    o = ort.SessionOptions(); o.intra_op_num_threads = threads; o.inter_op_num_threads = 1
    return ort.InferenceSession(path, o, providers=['CPUExecutionProvider'])
def bench(path, runs=100):
    s = session(path); x = prep(sorted(glob.glob(S + '/imagenet/eval/*.JPEG'))[0])
    for _ in range(10): s.run(None, {'input': x})
    t = []
    for _ in range(runs):
        a = time.perf_counter(); s.run(None, {'input': x}); t.append((time.perf_counter() - a) * 1e3)
    return statistics.median(t)
def evaluate(float_path, q_path, folder):
    import csv
    rows = list(csv.DictReader(open(S + '/imagenet/' + folder + '/labels.tsv'), delimiter='\t'))
    fs, qs = session(float_path), session(q_path)
    agree = top_f = top_q = 0; num = den = 0.0
    for r in rows:
        x = prep(S + '/imagenet/' + folder + '/' + r['file'])
        f = fs.run(None, {'input': x})[0][0]; q = qs.run(None, {'input': x})[0][0]
        lab = int(r['class_index'])
        top_f += f.argmax() == lab; top_q += q.argmax() == lab; agree += f.argmax() == q.argmax()
        num += float((f.astype(np.float64) ** 2).sum()); den += float(((q - f).astype(np.float64) ** 2).sum())
    n = len(rows)
    return 100 * (top_f - top_q) / n, 100 * agree / n, 10 * np.log10(num / den)
for name in sys.argv[1:]:
    src = S + '/models/' + name + '.onnx'
    pre = OUT + '/' + name + '-pre.onnx'; q = OUT + '/' + name + '-int8.onnx'
    quant_pre_process(src, pre)
    quantize_static(pre, q, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    print(name, 'ORT 1 thread median ms: float %.2f int8 %.2f' % (bench(src), bench(q)), flush=True)
    for folder in ['eval', 'val-eval']:
        print(name, folder, 'ORT int8 (integer kernels) drop %.2f agree %.1f sqnr %.2f' % evaluate(src, q, folder), flush=True)
