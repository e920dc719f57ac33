# keras-cnn under Keras/TensorFlow for ONEDNN_VERBOSE: run with ONEDNN_VERBOSE=1 TF_ENABLE_ONEDNN_OPTS=1 and the peers venv python.
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "bench", "peers"))
import peers
peers.set_thread_env(2)
import numpy as np, keras, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(2); tf.config.threading.set_inter_op_parallelism_threads(1)
m = peers.build_keras((1,28,28), "conv:32x3 relu conv:64x3 relu maxpool:2 dropout:0.25 flatten dense:128 relu dropout:0.5 dense:10".split())
m.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
x = np.random.rand(128*3, 28, 28, 1).astype("float32"); y = np.random.randint(0, 10, 128*3)
m.fit(x, y, batch_size=128, epochs=1, verbose=0)
