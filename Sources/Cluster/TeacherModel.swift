import Datasets
import Foundation
import Jobs
import NeuralNet
import ONNX
import Training

/// An ensemble member loaded from its file, one of our checkpoints (.safetensors) or an ONNX model (.onnx), with
/// the input normalisation it expects.
public struct TeacherModel {
    public var model: any Classifier
    public var normalization: Normalization?
    public var path: String
    public var isONNX: Bool

    /// `normalize` (none, auto or MEAN,STD) overrides the default: the normalisation a checkpoint records, and
    /// none for an ONNX model, which reads pixels in [0, 1] as the data set stores them.
    /// `normalize`: the input normalisation the model expects (nil: what its checkpoint records; none for ONNX).
    public static func load(_ path: String, normalize: NormalizationSetting? = nil, fittingTo data: @autoclosure () -> LabeledImages) throws -> TeacherModel {
        let url = URL(fileURLWithPath: path)
        let loaded: TeacherModel
        if url.pathExtension.lowercased() == "onnx" {
            let model = try OnnxModel.load(url)
            loaded = TeacherModel(model: model, normalization: (normalize ?? .none).resolve(fittingTo: data()), path: path, isONNX: true)
        } else {
            let (model, metadata) = try Checkpoint.load(url)
            let setting = try normalize ?? metadata.normalize.map(NormalizationSetting.init(parsing:)) ?? .none
            loaded = TeacherModel(model: model, normalization: setting.resolve(fittingTo: data()), path: path, isONNX: false)
        }
        // How the model reads the data's samples, settled now: a layout it cannot take is an error before any work.
        do { try loaded.model.prepare(forSamplesOf: data().sampleShape) } catch let error as ClassifierInputError {
            throw ClusterError("\(path): \(error)")
        }
        return loaded
    }

    /// A job's member, checked against the job's data and classes.
    public static func load(_ teacher: JobSpec.Teacher, context: JobContext) throws -> TeacherModel {
        let loaded = try load(teacher.checkpoint, normalize: teacher.normalize, fittingTo: context.split.train)
        let classes = context.spec.student.model.classes
        guard loaded.model.classes == classes, loaded.model.inputSize == context.split.train.sampleSize else {
            throw ClusterError("teacher '\(teacher.name)' (\(loaded.model.summary): \(loaded.model.inputSize) inputs, \(loaded.model.classes) classes) does not fit the data (\(context.split.train.sampleSize) values per sample) or the student's \(classes) classes")
        }
        return loaded
    }

    /// The model fed batches normalised as the student's are.
    public func forStudent(_ studentNormalization: Normalization?) -> any Classifier {
        Renormalized.adapt(model, from: studentNormalization, to: normalization)
    }
}
