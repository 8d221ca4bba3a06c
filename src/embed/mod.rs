//! Two-dimensional views of the feature matrix for the scatter plot: PCA and UMAP.
