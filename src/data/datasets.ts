// Dataset presets: MNIST and two drop-in replacements in the same IDX format (28x28 gray images,
// 10 classes, the same four file names). Each preset has its own mirrors, checksums, class names and
// default folder (data/<name>/), so one dataset's files never land in another's folder.
//
// Checksums, and where they come from:
// - MNIST: SHA-256 of the uncompressed files as published by Y. LeCun et al. (http://yann.lecun.com/exdb/mnist/),
//   the files torchvision mirrors.
// - Fashion-MNIST: the publisher (Zalando Research, https://github.com/zalandoresearch/fashion-mnist, README
//   "Get the Data") publishes the MD5 of each .gz (gzMd5 below). The SHA-256 of the uncompressed content was
//   computed from Debian's package dataset-fashion-mnist 0.0~git20200523.55506a9-1, which ships the
//   publisher's repository at commit 55506a9 (recompressed, hence other .gz MD5s, same content).
// - KMNIST: the publisher (ROIS-CODH, https://github.com/rois-codh/kmnist, README "Get the data") publishes
//   the MD5 of each .gz only, so the .gz files are verified by it; an uncompressed KMNIST file cannot be
//   verified and is refused unless verification is turned off.

/** One file of a preset. At least one of `sha256` and `gzMd5` is known. */
export interface DatasetFile {
  /** File name without `.gz`. */
  name: string;
  /** Size of the uncompressed file. */
  bytes: number;
  /** SHA-256 of the uncompressed file, lower-case hex, where known. */
  sha256?: string;
  /** MD5 of the publisher's gzipped file, lower-case hex, where published. */
  gzMd5?: string;
}

export type SplitName = 'train' | 'test';

export interface DatasetPreset {
  /** What `--dataset` takes and checkpoints record. */
  name: string;
  /** Human-readable title. */
  title: string;
  /** Class names, index = label. */
  classes: readonly string[];
  files: Readonly<Record<SplitName, { images: DatasetFile; labels: DatasetFile }>>;
  /** Base URLs the .gz files are downloaded from, in order. */
  mirrors: readonly string[];
  /** Environment variable that names the folder (like $MNIST_DIR). */
  envVar: string;
}

const SIZES = { trainImages: 47040016, trainLabels: 60008, testImages: 7840016, testLabels: 10008 };
const NAMES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

export const MNIST: DatasetPreset = {
  name: 'mnist',
  title: 'MNIST handwritten digits',
  classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  files: {
    train: {
      images: {
        name: NAMES.trainImages,
        bytes: SIZES.trainImages,
        sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      },
      labels: {
        name: NAMES.trainLabels,
        bytes: SIZES.trainLabels,
        sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
      },
    },
    test: {
      images: {
        name: NAMES.testImages,
        bytes: SIZES.testImages,
        sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      },
      labels: {
        name: NAMES.testLabels,
        bytes: SIZES.testLabels,
        sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
      },
    },
  },
  // The mirrors torchvision uses, in the order it tries them.
  mirrors: ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/'],
  envVar: 'MNIST_DIR',
};

export const FASHION_MNIST: DatasetPreset = {
  name: 'fashion-mnist',
  title: 'Fashion-MNIST (Zalando article images)',
  classes: ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
  files: {
    train: {
      images: {
        name: NAMES.trainImages,
        bytes: SIZES.trainImages,
        gzMd5: '8d4fb7e6c68d591d4c3dfef9ec88bf0d',
        sha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
      },
      labels: {
        name: NAMES.trainLabels,
        bytes: SIZES.trainLabels,
        gzMd5: '25c81989df183df01b3e8a0aad5dffbe',
        sha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
      },
    },
    test: {
      images: {
        name: NAMES.testImages,
        bytes: SIZES.testImages,
        gzMd5: 'bef4ecab320f06d8554ea6380940ec79',
        sha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
      },
      labels: {
        name: NAMES.testLabels,
        bytes: SIZES.testLabels,
        gzMd5: 'bb300cfdad3c16e7a12a480ee83cd310',
        sha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
      },
    },
  },
  // The publisher's own bucket (named in its README), which torchvision also uses.
  mirrors: ['http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'],
  envVar: 'FASHION_MNIST_DIR',
};

export const KMNIST: DatasetPreset = {
  name: 'kmnist',
  title: 'Kuzushiji-MNIST (cursive Japanese hiragana)',
  // The publisher's romanizations of the ten hiragana, in label order (kmnist_classmap.csv).
  classes: ['o', 'ki', 'su', 'tsu', 'na', 'ha', 'ma', 'ya', 're', 'wo'],
  files: {
    train: {
      images: { name: NAMES.trainImages, bytes: SIZES.trainImages, gzMd5: 'bdb82020997e1d708af4cf47b453dcf7' },
      labels: { name: NAMES.trainLabels, bytes: SIZES.trainLabels, gzMd5: 'e144d726b3acfaa3e44228e80efcd344' },
    },
    test: {
      images: { name: NAMES.testImages, bytes: SIZES.testImages, gzMd5: '5c965bf0a639b31b8f53240b1b52f4d7' },
      labels: { name: NAMES.testLabels, bytes: SIZES.testLabels, gzMd5: '7320c461ea6c1c855c0b718fb2a4b134' },
    },
  },
  mirrors: ['http://codh.rois.ac.jp/kmnist/dataset/kmnist/'],
  envVar: 'KMNIST_DIR',
};

/** A Map, not an object: "toString" must not find a dataset. */
export const DATASETS: ReadonlyMap<string, DatasetPreset> = new Map(
  [MNIST, FASHION_MNIST, KMNIST].map((d) => [d.name, d]),
);

export const DATASET_NAMES: readonly string[] = [...DATASETS.keys()];

export class UnknownDatasetError extends Error {
  override name = 'UnknownDatasetError';
}

/** The preset called `name`; throws UnknownDatasetError listing the known ones. */
export function getDataset(name: string): DatasetPreset {
  const preset = DATASETS.get(name);
  if (!preset) throw new UnknownDatasetError(`Unknown dataset "${name}"; known datasets: ${DATASET_NAMES.join(', ')}`);
  return preset;
}

/** The four files of a preset, in a fixed order. */
export function datasetFiles(preset: DatasetPreset): DatasetFile[] {
  return [preset.files.train.images, preset.files.train.labels, preset.files.test.images, preset.files.test.labels];
}

/** Class `label`'s name in `classes`, or the number itself when there are no names for it. */
export function className(classes: readonly string[] | undefined, label: number): string {
  return classes?.[label] ?? String(label);
}
