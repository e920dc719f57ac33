"""TFLite (XNNPACK) int8 MobileNetV2 0.35 at batch 1 on 2 threads, one fresh
process per call, for probes/bimodal.sh: `convert DATA OUT.tflite` makes the
model edge_infer.py times (same Keras network, full-integer quantisation);
`run OUT.tflite PASSES` prints the median and minimum ms of PASSES invokes.
Run with the peers venv (tools/bench/peers/setup.sh)."""
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../tools/bench/peers"))


def main():
    import numpy as np

    if sys.argv[1] == "convert":
        import edge_infer as E
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(0)
        model = E.keras_model(3)
        x = E.load_images(sys.argv[2], 64)
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([x[i : i + 1]] for i in range(32))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        open(sys.argv[3], "wb").write(conv.convert())
        return
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_path=sys.argv[2], num_threads=2)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]["index"]
    interp.set_tensor(inp, np.random.rand(1, 96, 96, 3).astype(np.float32))
    for _ in range(3):
        interp.invoke()
    times = []
    for _ in range(int(sys.argv[3])):
        t0 = time.perf_counter()
        interp.invoke()
        times.append((time.perf_counter() - t0) * 1e3)
    print("%.3f %.3f" % (statistics.median(times), min(times)))


if __name__ == "__main__":
    main()
