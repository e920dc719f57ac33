# Per-layer parameter counts of Keras's MobileNetV2(alpha=0.35, 96x96x3, include_top=False)
# plus the Edge Impulse seed's head, for pinning hpcnn's mobilenetv2:0.35 preset.
import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import keras
base = keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), include_top=False, weights=None)
rows = []
for l in base.layers:
    if l.count_params() or l.__class__.__name__ in ("Add", "ZeroPadding2D"):
        rows.append((l.name, l.__class__.__name__, l.count_params(), tuple(l.output.shape[1:])))
x = keras.layers.Reshape((-1, base.output.shape[3]))(base.output)
x = keras.layers.Dense(8, activation="relu")(x)
x = keras.layers.Dropout(0.1)(x)
x = keras.layers.Flatten()(x)
out = keras.layers.Dense(3, activation="softmax")(x)
m = keras.Model(base.input, out)
for l in m.layers[len(base.layers):]:
    if l.count_params():
        rows.append((l.name, l.__class__.__name__, l.count_params(), tuple(l.output.shape[1:])))
for r in rows: print(*r, sep="\t")
print("backbone_total", base.count_params())
tr = sum(int(w.numpy().size) for w in base.trainable_weights)
print("backbone_trainable", tr, "non_trainable", base.count_params() - tr)
print("model_total", m.count_params())
print("keras", keras.__version__)
