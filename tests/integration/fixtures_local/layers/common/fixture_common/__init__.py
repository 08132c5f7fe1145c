"""The fixture layer: importable by the fixture functions only through the layer's directory."""

LAYER_MARK = "from-the-fixture-layer"
