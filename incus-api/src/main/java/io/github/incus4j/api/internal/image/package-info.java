/**
 * Internal, shared by incus4j's drivers (exported only to them): Incus images: their tar format
 * ({@link io.github.incus4j.api.internal.image.ImageTar}), their unified and split layouts
 * ({@link io.github.incus4j.api.internal.image.ImageLayout}), the templates of {@code metadata.yaml}
 * ({@link io.github.incus4j.api.internal.image.ImageTemplates}) and what an instance keeps of its image
 * ({@link io.github.incus4j.api.internal.image.ImageFiles}).
 */
package io.github.incus4j.api.internal.image;
