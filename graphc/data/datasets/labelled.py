"""`LabelledImages`: what image-classification data sets share (samples, transforms, repr)."""

from __future__ import annotations

from graphc.data.dataset import Dataset


class LabelledImages(Dataset):
    """A data set of `data[i]` images with `targets[i]` class labels, as torchvision's are.

    Subclasses set `train`, `data`, `targets`, `transform` and `target_transform`, and may override
    `image(index)` (the raw image before `transform`) and `repr_lines()`.
    """

    def image(self, index):
        return self.data[index]

    def __getitem__(self, index):
        image, target = self.image(index), int(self.targets[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __len__(self) -> int:
        return len(self.data)

    def repr_lines(self) -> list[str]:
        return []

    def __repr__(self) -> str:
        lines = [f"Number of datapoints: {len(self)}", *self.repr_lines()]
        lines.append(f"Split: {'Train' if self.train else 'Test'}")
        return f"Dataset {type(self).__name__}\n" + "\n".join("    " + line for line in lines)
