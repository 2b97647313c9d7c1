// Learning-rate schedules against the rates PyTorch 1.13's schedulers give (20 steps, 5 per epoch,
// lr 0.01; printed by torch.optim.lr_scheduler StepLR(1, 0.7), CosineAnnealingLR(T_max=20) and
// OneCycleLR(max_lr=0.01, total_steps=20, cycle_momentum=False)).
import { suite } from 'uvu';
import { learningRate, type Schedule } from '../../src/train/schedule.ts';
import { assertClose } from '../helpers/compare.ts';

const test = suite('schedule');

const PYTORCH: [Schedule, number[]][] = [
  [{ name: 'step', gamma: 0.7 }, [
    0.01,
    0.01,
    0.01,
    0.01,
    0.01,
    0.007,
    0.007,
    0.007,
    0.007,
    0.007,
    0.0049,
    0.0049,
    0.0049,
    0.0049,
    0.0049,
    0.00343,
    0.00343,
    0.00343,
    0.00343,
    0.00343,
  ]],
  [{ name: 'cosine' }, [
    0.01,
    0.00993844170297569,
    0.00975528258147577,
    0.00945503262094184,
    0.00904508497187474,
    0.00853553390593274,
    0.00793892626146237,
    0.00726995249869773,
    0.00654508497187474,
    0.00578217232520116,
    0.005,
    0.00421782767479885,
    0.00345491502812526,
    0.00273004750130227,
    0.00206107373853763,
    0.00146446609406726,
    0.000954915028125263,
    0.000544967379058161,
    0.000244717418524232,
    6.15582970243117e-05,
  ]],
  [{ name: 'onecycle' }, [
    0.000399999999999999,
    0.00131671842700025,
    0.00371671842700025,
    0.00668328157299975,
    0.00908328157299975,
    0.01,
    0.00987464006235087,
    0.00950484632013474,
    0.0089091617757105,
    0.00811745653949763,
    0.00716943001791301,
    0.00611262021936289,
    0.00500002,
    0.00388741978063711,
    0.00283060998208699,
    0.00188258346050237,
    0.0010908782242895,
    0.000495193679865263,
    0.000125399937649126,
    4e-08,
  ]],
  [{ name: 'constant' }, Array(20).fill(0.01)],
];

for (const [schedule, expected] of PYTORCH) {
  test(`${schedule.name} gives PyTorch's rates step by step`, () => {
    const actual = expected.map((_, i) =>
      learningRate(schedule, 0.01, { step: i + 1, epoch: Math.floor(i / 5), totalSteps: 20 })
    );
    assertClose(actual, expected, schedule.name, 1e-12);
  });
}

test.run();
