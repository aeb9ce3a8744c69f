"""The tasks a bundle can do (classification, regression): results, postprocessing and the models that
turn a runner's outputs into them."""
